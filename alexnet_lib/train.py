"""Paper §5: train AlexNet on a prepared ImageNet store, the paper's recipe by default.

    python -m alexnet_lib.data.prepare             # once: 256x256 images, mean image, RGB PCA (§2, §4.1)
    python -m alexnet_lib.train                    # the profile's store (ALEXNET_PROFILE, default smoke)
    python -m alexnet_lib.train --profile paper --workers 8
    python -m alexnet_lib.train --profile paper --resume   # after a crash or a kill -9: continue
    torchrun --standalone --nproc_per_node=8 -m alexnet_lib.train --profile paper   # DDP, 8 GPUs

The recipe is `TrainConfig`'s defaults: the paper net (§3.5) with its init (§5), batches of 128, the
paper's SGD rule (`PaperSGD`: momentum 0.9, weight decay 0.0005), learning rate 0.01 divided by 10
when the validation error stops improving, at most three times (`DivideOnPlateau`), 90 epochs,
random 224x224 crops + flips + PCA lighting made on the device (§4.1), dropout 0.5 (§4.2). A profile
may change a few of them to suit its data (`PROFILE_DEFAULTS`); every run prints what it uses.

Each epoch reads the training set in a permutation of (seed, epoch) alone, so where a run stands
is just (epoch, batch): a resumed run skips exactly the batches it has done. What a run writes to
its folder (``--out``, default ``runs/<profile>/``), only from the first process:

* ``checkpoint.pt``: everything needed to continue (model, optimizer, schedule, position, every
  random state, the log so far), after every epoch and every ``--checkpoint-every`` steps; written
  to ``checkpoint.pt.partial`` and renamed, so a kill leaves the previous one whole.
* ``best.pt``: the weights with the lowest validation top-1 error so far (``python -m
  alexnet_lib.evaluate --checkpoint runs/<profile>/best.pt`` scores them the paper's way).
* ``log.csv``: one row per epoch; ``tensorboard/``: the same curves, if TensorBoard is installed.
"""

import argparse
import contextlib
import os
import sys
import textwrap
import time
from dataclasses import fields, replace
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .augment import augment_batch, lighting_lambdas
from .config import DRY_RUN_SIZES, PROFILES, device_name, display_path, dry_run, keep_freed_memory
from .data.batches import batch_loader, epoch_batches, held_out_sample
from .data.store import PreparedStore, open_prepared, prepared_root
from .distributed import init_distributed, sum_over_processes
from .errors import AlexNetError, OneLineParser
from .evaluate import CentreCrop, evaluate
from .expected import Expected
from .meter import EpochMeter
from .recipe import (CODE_2012_DIFFERENCES, INITS, MODELS, PROFILE_DEFAULTS, SCHEDULES, TrainConfig, make_config,
                     out_folder)
from .run_folder import LOG_COLUMNS, RunLock, check_same_data, check_store, check_writable, tensorboard, write_csv
from .run_state import RunState, diverged, previous_run, save_checkpoint, start_run


# --- The run -------------------------------------------------------------------------------------

def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None) -> list[dict]:
    """Paper §5: train the run ``config`` describes; returns its log, one dict per epoch.

    ``resume``: continue the run in ``config.out`` from its checkpoint (a new run if there is
    none); ``config`` must then equal the saved one except in `RESUMABLE` settings
    (``make_config(resume=True, ...)`` makes such a config). ``stop_after``: return (after a
    checkpoint) once the run has taken that many steps in all. The first process holds the run
    folder's `RunLock` throughout: a second trainer on the same folder refuses in one line. Under
    `dry_run` the run is cut to ``DRY_RUN_SIZES`` (epochs, and images per epoch), nothing else changed.
    """
    config.check()
    if dry_run():
        config = replace(config, epochs=min(config.epochs, DRY_RUN_SIZES["epochs"]),
                         epoch_images=min(config.epoch_images or DRY_RUN_SIZES["n_train"], DRY_RUN_SIZES["n_train"]))
    rank, world, device = init_distributed()
    out = out_folder(config)
    if rank == 0:
        check_writable(out)
    with RunLock(out) if rank == 0 else contextlib.nullcontext():
        saved = previous_run(config, out, resume, lead=rank == 0)
        if saved is not None and saved["epoch"] >= config.epochs and "optimizer" in saved:
            if rank == 0:
                print(f"Nothing to do: the run in {display_path(out)} finished at epoch {saved['epoch']} "
                      f"of {config.epochs} (add --epochs N to train it further).")
            return saved["history"]
        config, store = open_data(config, saved, out, world, device)
        if device.type != "cuda":
            keep_freed_memory()  # each step's activations reuse the last step's memory
        return train_epochs(start_run(config, store, saved, out, rank, world, device), stop_after)


def open_data(config: TrainConfig, saved: dict | None, out: Path, world: int,
              device: torch.device) -> tuple[TrainConfig, PreparedStore]:
    """The run's store, checked (the saved run's own, when resumed), and ``config`` with what it
    left to the run's start decided: its data and out folders, its number of workers."""
    if config.batch_size % world:
        raise AlexNetError(f"--batch-size {config.batch_size} does not split over {world} "
                           f"processes: use a multiple of {world}.")
    if config.model == "two-tower" and world > 1:
        raise AlexNetError("--model two-tower runs in one process on two GPUs: start it without torchrun.")
    data = Path(config.data or prepared_root(config.profile))
    store = open_prepared(data)
    if saved is not None:
        check_same_data(saved, store, out)
    check_store(store)
    workers = config.workers
    if workers is None:
        # On a GPU: this process's share of the machine's cores, at most 8. On the CPU: none. The
        # net's step needs every core there, and a worker taking one slowed training on 2 cores
        # (batch 16: 37 img/s without workers, 26 with 2); reading a 256x256 JPEG costs ~0.3 ms.
        share = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        workers = min(8, share) if device.type == "cuda" else 0
    config = replace(config, data=str(data), out=str(out), workers=workers)
    train_images = len(store.split("train"))
    if steps_per_epoch(config, train_images) == 0:
        raise AlexNetError(f"--batch-size {config.batch_size} is more than the {train_images} "
                           f"training images of {display_path(data)}: use a smaller batch.")
    return config, store


def steps_per_epoch(config: TrainConfig, train_images: int) -> int:
    """The whole batches in an epoch's images (a last, partial one waits for another epoch's order)."""
    return min(train_images, config.epoch_images or train_images) // config.batch_size


def train_epochs(state: RunState, stop_after: int | None) -> list[dict]:
    """Paper §5: the run's epochs from where ``state`` stands, each trained, validated and
    checkpointed; returns the log. ``stop_after``: stop once the run has taken that many steps."""
    config, train_split = state.config, state.store.split("train")
    steps = steps_per_epoch(config, len(train_split))
    if state.lead:
        _print_start(state, steps)
    writer = tensorboard(state.out, state.step) if state.lead else None
    expected = Expected(f"{config.epochs - state.epoch} epochs of training (validation not counted)",
                        (config.epochs - state.epoch) * steps - state.batch, state.device)
    augment = augmentation(state)
    while state.epoch < config.epochs:
        batches = epoch_batches(len(train_split), config.batch_size, config.seed, state.epoch,
                                rank=state.rank, world=state.world, epoch_images=config.epoch_images)
        loader = batch_loader(train_split, batches[state.batch:], config.workers,
                              pin_memory=state.device.type == "cuda")
        if train_one_epoch(state, loader, augment, writer, expected, stop_after):
            if writer:
                writer.close()
            if state.lead:
                print(f"Stopped after step {state.step} (--stop-after): continue with --resume.")
            return state.history
        end_epoch(state, writer)
    if writer:
        writer.close()
    return state.history


def augmentation(state: RunState):
    """Paper §4.1 on the device: ``augment(images)`` subtracts the mean image, cuts random
    224x224 patches, flips them and adds PCA lighting, drawing from the run's own generator."""
    stats, device = state.store.stats, state.device
    return partial(augment_batch, mean_image=stats.mean_image.to(device),
                   eigenvalues=lighting_lambdas(stats.eigenvalues).float().to(device),
                   eigenvectors=stats.eigenvectors.float().to(device), std=state.config.lighting,
                   generator=state.augment_rng)


def train_one_epoch(state: RunState, loader, augment, writer, expected: Expected, stop_after: int | None) -> bool:
    """Paper §5: the ``loader``'s batches, the steps of the epoch not taken yet (all of them, unless
    resumed), with a checkpoint every ``checkpoint_every`` steps; True when ``stop_after`` ended it."""
    config = state.config
    state.lr = state.optimizer.param_groups[0]["lr"]
    state.model.train()
    bar = tqdm(total=(state.batch + len(loader)) * config.batch_size, initial=state.batch * config.batch_size,
               unit="img", unit_scale=True, desc=f"epoch {state.epoch + 1}/{config.epochs}",
               disable=not (state.lead and config.progress), dynamic_ncols=True)
    start = time.perf_counter()
    for images, labels in loader:
        sgd_step(state, augment, images, labels)
        bar.update(len(labels) * state.world)
        if state.lead:
            expected.step()
        checkpoint = state.step % config.checkpoint_every == 0
        stopping = stop_after is not None and state.step >= stop_after
        if state.step % config.log_every == 0 or checkpoint or stopping:
            last_loss = checked_loss(state)  # waits for the GPU
            bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{state.lr:g}", refresh=False)
            if writer:
                writer.add_scalar("train/loss", last_loss, state.step)
        if checkpoint or stopping:
            state.meter.seconds += time.perf_counter() - start
            start = time.perf_counter()
            save_checkpoint(state)
        if stopping:
            bar.close()
            return True
    checked_loss(state)
    state.meter.seconds += time.perf_counter() - start
    bar.close()
    return False


def sgd_step(state: RunState, augment, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Paper §5: one step of SGD on a batch: §4.1's augmentation, forward (in bf16 if on), the
    cross-entropy loss, backward, the update; the step's loss and errors go to the epoch's sums."""
    images = images.to(state.device, non_blocking=True)
    labels = labels.to(state.device, non_blocking=True)
    x = augment(images).contiguous(memory_format=state.config.memory_format)
    with state.autocast():
        logits = state.model(x)
    loss = F.cross_entropy(logits.float(), labels)
    state.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.optimizer.step()
    state.batch, state.step = state.batch + 1, state.step + 1
    state.meter.add(state.step, loss, logits, labels)


def checked_loss(state: RunState) -> float:
    """The last step's loss; a loss since the last check that was NaN or infinite stops the run."""
    last_loss, bad_step = state.meter.check(state.device)
    if bad_step is not None:
        raise diverged("loss", bad_step, state)
    return last_loss


def end_epoch(state: RunState, writer) -> None:
    """Paper §5: validate the epoch's net, let its top-1 error drive the schedule, log the epoch,
    checkpoint it, and keep the weights in best.pt when their error is the lowest so far."""
    config = state.config
    # Validation on 1 view, in float32 (bf16 scores tie); its top-1 error drives the schedule
    val_top1, val_top5 = validate(state.net, state.store, state.device, batch_size=config.batch_size,
                                  workers=config.workers, rank=state.rank, world=state.world, images=config.val_images)
    state.schedule.step(val_top1)
    summary = state.meter.summary(state.device)
    row = {"epoch": state.epoch + 1, "lr": state.lr, **summary, "val_top1": val_top1, "val_top5": val_top5,
           "images_per_s": summary["images"] / state.meter.seconds, "seconds": state.meter.seconds}
    state.history.append(row)
    state.epoch, state.batch, state.meter = state.epoch + 1, 0, EpochMeter(state.device)
    if state.lead:
        print(f"epoch {state.epoch}: loss {row['train_loss']:.3f}; top-1 / top-5 error: train "
              f"{row['train_top1']:.1%} / {row['train_top5']:.1%}, val {val_top1:.1%} / "
              f"{val_top5:.1%}; lr {state.lr:g}; {row['images_per_s']:.1f} img/s", flush=True)
        write_csv(state.out / "log.csv", state.history)
        if writer:
            for name in LOG_COLUMNS[1:]:  # at the global step, so that a resume's purge covers them
                writer.add_scalar(f"epoch/{name}", row[name], state.step)
            writer.flush()
    save_checkpoint(state)
    if val_top1 < state.best_top1:
        state.best_top1 = val_top1
        save_checkpoint(state, state.out / "best.pt", weights_only=True)


def validate(net: nn.Module, store, device: torch.device, *, batch_size: int, workers: int,
             rank: int = 0, world: int = 1, images: int | None = None) -> tuple[float, float]:
    """Paper §5: top-1 and top-5 error on the store's validation split, 1 view (the centre patch).

    ``images``: score that many of them (`held_out_sample`), not all. With ``world`` processes each
    scores every ``world``-th image and the counts are added up. (With fewer than 5 classes,
    "top-5" is top-k with k = the number of classes.)
    """
    split = store.split("val")
    shard = held_out_sample(len(split), images)[rank::world]
    batches = [shard[i:i + batch_size] for i in range(0, len(shard), batch_size)]
    loader = batch_loader(split, batches, workers, pin_memory=device.type == "cuda")
    k5 = min(5, len(store.classes))
    errors = evaluate(CentreCrop(net, store.stats.mean_image.to(device)), loader, device, ks=(1, k5))
    misses1, misses5, count = sum_over_processes(
        [errors[1] * len(shard), errors[k5] * len(shard), len(shard)], device)
    return misses1 / count, misses5 / count


def _print_start(state: RunState, steps: int) -> None:
    config, store = state.config, state.store
    profile = PROFILE_DEFAULTS[config.profile]
    recipe = ", ".join(
        f"{f.name}={getattr(config, f.name)}"
        + (" (profile)" if profile.get(f.name, f) == getattr(config, f.name) else "")
        for f in fields(TrainConfig) if f.name not in ("profile", "data", "out", "progress", "bf16")
    )
    train_split, val_split = store.split("train"), store.split("val")
    print(f"data    : {display_path(Path(config.data))}: {store.source}; {len(train_split)} train / "
          f"{len(val_split)} val images, {len(store.classes)} classes")
    print(f"device  : {device_name(state.device)}, {state.world} process(es); "
          f"bf16 autocast {'on' if state.bf16 else 'off'}")
    print(f"recipe  : profile {config.profile}; {recipe}")
    print(f"output  : {display_path(Path(config.out))}; {steps} steps per epoch"
          + (f"; resumed at step {state.saved_step}" if state.saved_step is not None else ""), flush=True)


# --- Command line --------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> tuple[dict, bool, int | None]:
    """The flags given on the command line (only those), whether to resume, and --stop-after."""
    differences = "\n".join(textwrap.fill(f"--{name}: {text}.", 100, initial_indent="  ", subsequent_indent="    ")
                            for name, text in CODE_2012_DIFFERENCES)
    p = OneLineParser(prog="python -m alexnet_lib.train", argument_default=argparse.SUPPRESS,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      description="Train AlexNet the paper's way (§5) on a prepared store.",
                      epilog="The defaults are the recipe of the run behind the paper's numbers (the 2012 code). "
                             "Where it differs\nfrom the printed paper:\n" + differences + "\nElsewhere the "
                             "two agree (inputs: raw RGB minus the mean image; lr 0.01; biases 1 in\nconv2, "
                             "conv4, conv5, fc6, fc7; momentum 0.9, weight decay 0.0005, batch 128).")
    flag, switch = p.add_argument, argparse.BooleanOptionalAction
    flag("--profile", choices=list(PROFILES), help="data and defaults (default: ALEXNET_PROFILE, else smoke)")
    flag("--data", metavar="DIR", help="prepared store (default: the profile's, from alexnet_lib.data.prepare)")
    flag("--out", metavar="DIR", help="run folder for checkpoints and logs (default: runs/<profile>)")
    flag("--resume", action="store_true", default=False, help="continue the run in --out from its checkpoint")
    flag("--stop-after", type=int, metavar="N", default=None, help="stop after N steps in all (then --resume)")
    flag("--model", choices=list(MODELS), help="paper (default), one-gpu (§3.2), two-tower (2 GPUs), mini (~1/16 width: a pipeline check)")
    flag("--init", choices=list(INITS),
         help="2012-code (default under course and paper: §5 as the 2012 run did it, conv3-5 from N(0, 0.03), "
              "which trains the real net), paper (N(0, 0.01) everywhere, as printed), caffe (biases 0.1), "
              "pytorch (torch's layer defaults; smoke's default), he")
    flag("--epochs", type=int, metavar="N", help="passes over the training set (paper: 90)")
    flag("--batch-size", type=int, metavar="N", help="images per step, over all processes (paper: 128)")
    flag("--lr", type=float, help="initial learning rate (paper: 0.01)")
    flag("--schedule", choices=list(SCHEDULES), help="plateau (§5, default) or 2012 (/10 after epochs 25, 51, 79)")
    flag("--dropout-rule", choices=["paper", "inverted"], help="§4.2's halving at test time (default) or nn.Dropout")
    flag("--remove-conv", choices=["conv2", "conv3", "conv4"],
         help="§7's depth ablation: the paper net without this middle conv layer")
    flag("--epoch-images", type=int, metavar="N", help="images per epoch (default: the whole training set)")
    flag("--val-images", type=int, metavar="N",
         help="validate each epoch on N images, a fixed random sample (default: all of them)")
    flag("--seed", type=int, metavar="N", help="seed of init, data order, augmentation, dropout (default 0)")
    flag("--bf16", action=switch, help="bf16 autocast (default: on CUDA)")
    flag("--compile", action=switch,
         help="torch.compile the net, for CUDA (default: off; on a 2-core CPU it made a step 10-20%% slower)")
    flag("--channels-last", action=switch, help="NHWC memory layout (default: on)")
    flag("--workers", type=int, metavar="N",
         help="data-reading processes (default: on CUDA the cores, <= 8; on the CPU 0: none)")
    flag("--checkpoint-every", type=int, metavar="N", help="steps between checkpoints, besides each epoch's end")
    flag("--log-every", type=int, metavar="N", help="steps between loss checks (each waits for the GPU; default 20)")
    flag("--progress", action=switch, help="tqdm progress bars (default: on)")
    flags = vars(p.parse_args(argv))
    return flags, flags.pop("resume"), flags.pop("stop_after")


def main(argv: list[str] | None = None) -> None:
    """Command line: an error a user can fix prints one line, no traceback."""
    try:
        flags, resume, stop_after = parse_args(argv)
        if stop_after is not None and stop_after < 1:
            raise AlexNetError(f"--stop-after {stop_after}: use a whole number >= 1.")
        config = make_config(resume=resume, **flags)
        train(config, resume=resume, stop_after=stop_after)
    except AlexNetError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted: continue from the last checkpoint with --resume.")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
