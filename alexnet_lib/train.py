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

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .augment import augment_batch, lighting_lambdas
from .config import (PROFILES, device_name, display_path, get_device, get_profile,
                     keep_freed_memory, runs_root)
from .errors import AlexNetError
from .evaluate import CentreCrop, _true_label_ranks, evaluate
from .models import AlexNet, OneGPUAlexNet, TwoTowerAlexNet
from .optim import DivideOnPlateau, PaperSGD, StepDrops


@dataclass
class TrainConfig:
    """Paper §4-§5: one training run. The defaults are the paper's recipe."""

    # What to train on, where to write (None: the profile's prepared store, runs/<profile>/)
    profile: str = "smoke"
    data: str | None = None
    out: str | None = None
    # The net (§3, §4.2, §5)
    model: str = "paper"  # "paper" (AlexNet, §3.5), "one-gpu" (§3.2's half-width net), "two-tower"
    init: str = "paper"  # §5's N(0, 0.01) weights, biases 1 or 0; "pytorch": torch's layer defaults
    dropout: float = 0.5
    dropout_rule: str = "paper"  # §4.2's "multiply by 0.5 at test time"; "inverted": nn.Dropout
    remove_conv: str | None = None  # §7's depth ablation: "conv2", "conv3" or "conv4" (paper net only)
    # Learning (§5)
    epochs: int = 90
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0005
    schedule: str = "plateau"  # divide by 10 when val error stalls; "2012": after epochs 25, 51, 79
    patience: int = 3  # epochs without improvement before a division (the paper gives none)
    max_drops: int = 3
    lighting: float = 0.1  # §4.1: the standard deviation of the PCA-lighting alphas
    epoch_images: int | None = None  # train on this many images per epoch (None: all of them)
    seed: int = 0
    # Speed: the same recipe, executed faster
    bf16: bool | None = None  # autocast to bfloat16; None: on CUDA yes, on the CPU no
    channels_last: bool = True
    compile: bool = False
    workers: int | None = None  # data-reading processes per GPU; None: on CUDA its share of the
    # cores (<= 8), on the CPU 0 (the net needs every core; decoding is ~1% of a CPU step)
    # Checkpoints and logs
    checkpoint_every: int = 2000  # steps, besides the end of every epoch
    log_every: int = 20  # steps between loss checks and progress-bar updates (each waits for the GPU)
    progress: bool = True

    def check(self) -> None:
        """Raise `AlexNetError`, naming the flag, for a value no run can use."""
        positive = {"epochs": self.epochs, "batch-size": self.batch_size,
                    "checkpoint-every": self.checkpoint_every, "log-every": self.log_every,
                    "epoch-images": self.epoch_images}
        for flag, value in positive.items():
            if value is not None and value < 1:
                raise AlexNetError(f"--{flag} {value}: use a whole number >= 1.")
        if self.workers is not None and self.workers < 0:
            raise AlexNetError(f"--workers {self.workers}: use 0 (read in this process) or more.")
        if not self.lr > 0:
            raise AlexNetError(f"--lr {self.lr}: use a learning rate > 0 (the paper's: 0.01).")
        if self.profile not in PROFILES:
            get_profile(self.profile)  # raises, naming the profiles
        for name, allowed in (("model", MODELS), ("init", INITS), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise AlexNetError(f"--{name} {getattr(self, name)}: choose one of {', '.join(allowed)}.")


# What a profile changes in the recipe, for its data and hardware. `paper` changes nothing.
PROFILE_DEFAULTS = {
    # The generated stand-in (10 classes, 400 training images) on a CPU in minutes. With the
    # paper's init the loss stays at ln(10) for longer than that (batch 16, lr 0.01 or 0.00125:
    # after 3-4 epochs val top-1 error is still 90%, chance); PyTorch's init learns in two.
    "smoke": dict(init="pytorch", epochs=10, batch_size=16, checkpoint_every=100),
    # Imagenette (10 real ImageNet classes, ~9,500 training images) on one GPU.
    "course": dict(),
    "paper": dict(),
}

MODELS = {"paper": AlexNet, "one-gpu": OneGPUAlexNet, "two-tower": TwoTowerAlexNet}
INITS = ("paper", "pytorch")
SCHEDULES = ("plateau", "2012")
# Settings that only change how fast (or for how long) a run goes: --resume accepts new values.
RESUMABLE = {"data", "out", "epochs", "bf16", "channels_last", "compile", "workers",
             "checkpoint_every", "log_every", "progress"}


def make_config(**flags) -> TrainConfig:
    """The run's settings: `TrainConfig`'s defaults, then the profile's, then ``flags``."""
    profile = get_profile(flags.get("profile")).name
    return TrainConfig(**{**PROFILE_DEFAULTS[profile], **flags, "profile": profile})


def book_run(profile: str | None = None) -> TrainConfig:
    """The run the §6 and §6.1 chapters share: one checkpoint, trained by whichever page runs first.

    Under ``smoke``: the smoke recipe cut to two epochs, in ``runs/smoke-qualitative``, without
    progress bars. Under ``course`` and ``paper``: the profile's whole run, in ``runs/<profile>``,
    where ``python -m alexnet_lib.train --profile <profile>`` puts it.
    """
    profile = get_profile(profile).name
    if profile == "smoke":
        return make_config(profile=profile, epochs=2, out=str(runs_root() / "smoke-qualitative"),
                           progress=False)
    return make_config(profile=profile, out=str(runs_root() / profile))


# --- Data: a seeded order per epoch, read a batch at a time ------------------------------------

def epoch_batches(
    num_images: int, batch_size: int, seed: int, epoch: int,
    *, rank: int = 0, world: int = 1, epoch_images: int | None = None,
) -> list[list[int]]:
    """Paper §5: the training batches of ``epoch`` (from 0), as lists of image indices.

    The order is a permutation drawn from (``seed``, ``epoch``) alone: any process can recompute
    any epoch's batches, which is what makes resuming exact. Only whole batches (the last,
    partial one is dropped; it comes back in another epoch's order). ``epoch_images`` keeps the
    first so many images of the permutation. With ``world`` processes each global batch is cut
    into ``world`` equal parts and process ``rank`` takes its part, so together they see what one
    process would.
    """
    order = np.random.default_rng([seed, epoch]).permutation(num_images)[:epoch_images]
    part = batch_size // world
    return [order[b * batch_size + rank * part: b * batch_size + (rank + 1) * part].tolist()
            for b in range(len(order) // batch_size)]


def batch_loader(split, batches: list[list[int]], workers: int = 0, pin_memory: bool = False):
    """The ``batches`` of a prepared split as (uint8 images, labels), read in order by
    ``workers`` processes (0: this one); one ``split[indices]`` read per batch.

    The loader has its own random generator, so creating one never moves the global random
    state (dropout's): a resumed run draws the same masks as an uninterrupted one.
    """
    return DataLoader(split, sampler=batches, batch_size=None, num_workers=workers,
                      pin_memory=pin_memory, generator=torch.Generator())


# --- The net ----------------------------------------------------------------------------------

def build_model(config: TrainConfig, num_classes: int, device: torch.device) -> nn.Module:
    """Paper §3.5 and §5: the net ``config.model`` names, initialised as ``config.init`` says.

    ``two-tower`` puts one tower on each of the first two GPUs (§3.2's model parallelism); the
    others go to ``device``. ``init="paper"`` is §5's (the nets' own, `init_paper_`);
    ``init="pytorch"`` resets every conv and linear layer to PyTorch's default (uniform weights
    and biases scaled by 1/sqrt(fan-in), as torchvision's alexnet starts): not the paper's, but it
    learns at once where the paper's init can leave the loss flat for a long time (PAPER.md).
    """
    knobs = dict(dropout=config.dropout, dropout_rule=config.dropout_rule)
    if config.remove_conv:
        if config.model != "paper":
            raise AlexNetError(
                f"--remove-conv {config.remove_conv} is §7's ablation of the paper net: use it "
                f"with --model paper, not --model {config.model}."
            )
        knobs["remove_conv"] = config.remove_conv
    if config.model == "two-tower":
        if device.type != "cuda" or torch.cuda.device_count() < 2:
            found = torch.cuda.device_count() if torch.cuda.is_available() else 0
            raise AlexNetError(
                f"--model two-tower puts one tower on each of two GPUs, but {found} GPU(s) are "
                "visible: use --model paper (the same net with grouped convolutions, one device)."
            )
        net = TwoTowerAlexNet(("cuda:0", "cuda:1"), num_classes, **knobs)
    else:
        net = MODELS[config.model](num_classes, **knobs).to(device)
    if config.init == "pytorch":
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.reset_parameters()
    return net


def input_device(model: nn.Module, device: torch.device) -> torch.device:
    """Where the net's input goes: its first tower's device for the two-tower net."""
    return model.devices[0] if isinstance(model, TwoTowerAlexNet) else device


# --- Checkpoints -------------------------------------------------------------------------------

def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: to ``path.partial``, synced, then renamed.

    A kill at any moment leaves either the previous checkpoint or the new one, never half of one.
    """
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        torch.save(state, file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict:
    """Read a checkpoint that `train` wrote (tensors and plain values only: safe to load).

    ``mmap``: map the file instead of reading it (cheap when only a few entries are needed).
    """
    path = Path(path)
    if not path.is_file():
        raise AlexNetError(f"No checkpoint at {path}: train one with python -m alexnet_lib.train.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # truncated, or not a checkpoint at all
        raise AlexNetError(f"Cannot read the checkpoint {path}: {err}".splitlines()[0]) from None


def _random_states(augment_rng: torch.Generator) -> dict:
    """Every random state a run draws from: torch (dropout), CUDA, NumPy, Python, augmentation."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "python": random.getstate(),
        "augment": augment_rng.get_state(),
    }


def _set_random_states(states: dict, augment_rng: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    augment_rng.set_state(states["augment"])


# --- Several processes (torchrun) ---------------------------------------------------------------

def _init_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device) of this process; under torchrun, joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, get_device()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend)
    return rank, world, device


def _gather(state: dict, world: int) -> list[dict]:
    """Every process's ``state`` (tensors and plain values), in rank order, in every process."""
    if world == 1:
        return [state]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    states = [None] * world
    dist.all_gather_object(states, buffer.getvalue())  # bytes: tensors themselves do not travel well
    return [torch.load(io.BytesIO(data), weights_only=True) for data in states]


def _sum_over_processes(values: list[float], device: torch.device) -> list[float]:
    if not dist.is_initialized():
        return values
    total = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.tolist()


# --- Per-epoch bookkeeping ----------------------------------------------------------------------

class _EpochMeter:
    """Paper §2: an epoch's training loss and top-1 / top-5 error, summed on the device.

    Nothing here waits for the GPU except `check`, which looks at the losses since the last check.
    """

    def __init__(self, device: torch.device, state: dict | None = None):
        state = state or {"sums": [0.0] * 3, "images": 0, "seconds": 0.0}
        self.sums = torch.tensor(state["sums"], dtype=torch.float64, device=device)
        self.images = state["images"]
        self.seconds = state["seconds"]  # training time of the epoch so far (before a resume too)
        self.pending: list[tuple[int, torch.Tensor]] = []  # (step, loss) not yet checked

    def add(self, step: int, loss: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
        ranks = _true_label_ranks(logits.detach().float(), labels)
        k5 = min(5, logits.shape[1])
        self.sums += torch.stack([loss.detach().double() * len(labels),
                                  (ranks >= 1).sum().double(), (ranks >= k5).sum().double()])
        self.images += len(labels)
        self.pending.append((step, loss.detach()))

    def check(self, device: torch.device) -> tuple[float, int | None]:
        """The last loss, and the first step (of any process) whose loss was NaN or infinite."""
        if not self.pending:
            return math.nan, None
        steps = [step for step, _ in self.pending]
        losses = torch.stack([loss.float() for _, loss in self.pending]).cpu()
        self.pending = []
        bad = (~losses.isfinite()).nonzero()
        first_bad = torch.tensor(steps[bad[0].item()] if len(bad) else math.inf, device=device)
        if dist.is_initialized():
            dist.all_reduce(first_bad, op=dist.ReduceOp.MIN)
        return losses[-1].item(), int(first_bad) if first_bad.isfinite() else None

    def state_dict(self) -> dict:
        return {"sums": self.sums.tolist(), "images": self.images, "seconds": self.seconds}

    def summary(self, device: torch.device) -> dict:
        loss, top1, top5, n = _sum_over_processes([*self.sums.tolist(), self.images], device)
        return {"train_loss": loss / n, "train_top1": top1 / n, "train_top5": top5 / n, "images": n}


def _diverged(what: str, step: int, lr: float, saved_step: int | None, path: Path) -> AlexNetError:
    kept = (f"the last good checkpoint ({display_path(path)}, step {saved_step}) is kept"
            if saved_step is not None else "no checkpoint had been written yet")
    return AlexNetError(
        f"The {what} became NaN or infinite at step {step} (lr {lr:g}): training diverged and was "
        f"stopped; {kept}. Lower --lr and start again with a new --out."
    )


LOG_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "train_top5", "val_top1", "val_top5",
               "images_per_s", "seconds")


def _write_csv(path: Path, history: list[dict]) -> None:
    """The whole log, rewritten each epoch (atomically), so it always matches the checkpoint."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as file:
        writer = csv.DictWriter(file, LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    os.replace(partial, path)


def _tensorboard(out: Path, step: int):
    """A TensorBoard writer (events after ``step`` from a killed run are dropped), or None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("TensorBoard is not installed (pip install tensorboard): logging to log.csv only.")
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=step)


def _check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise AlexNetError(
            f"Cannot write to the output folder {out} ({err.strerror}): pick another with --out."
        ) from None


# --- The run -------------------------------------------------------------------------------------

def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None) -> list[dict]:
    """Paper §5: train the run ``config`` describes; returns its log, one dict per epoch.

    ``resume``: continue the run in ``config.out`` from its checkpoint (a new run if there is
    none); ``config`` must then equal the saved one except in `RESUMABLE` settings
    (`resumed_config` makes such a config). ``stop_after``: return (after a checkpoint) once the
    run has taken that many steps in all.
    """
    from .data.prepare import open_prepared, prepared_root

    config.check()
    rank, world, device = _init_distributed()
    lead = rank == 0
    out = Path(config.out or runs_root() / config.profile)
    checkpoint_path = out / "checkpoint.pt"
    if lead:
        _check_writable(out)
    saved = load_checkpoint(checkpoint_path) if resume and checkpoint_path.is_file() else None
    if saved is not None:
        _check_same_run(TrainConfig(**saved["config"]), config, out)
    elif resume and lead:
        print(f"Nothing to resume in {display_path(out)} (no checkpoint.pt): starting a new run.")
    elif checkpoint_path.is_file():
        raise AlexNetError(
            f"{display_path(out)} already holds a run (checkpoint.pt): add --resume to continue "
            "it, or choose another --out."
        )
    if config.batch_size % world:
        raise AlexNetError(f"--batch-size {config.batch_size} does not split over {world} "
                           f"processes: use a multiple of {world}.")
    if config.model == "two-tower" and world > 1:
        raise AlexNetError("--model two-tower runs in one process on two GPUs: start it without torchrun.")

    data = Path(config.data or prepared_root(config.profile))
    store = open_prepared(data)
    cuda = device.type == "cuda"
    if config.workers is None:
        # On a GPU: this process's share of the machine's cores, at most 8. On the CPU: none. The
        # net's step needs every core there, and a worker taking one slowed training on 2 cores
        # (batch 16: 37 img/s without workers, 26 with 2); reading a 256x256 JPEG costs ~0.3 ms.
        share = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        config = replace(config, workers=min(8, share) if cuda else 0)
    config = replace(config, data=str(data), out=str(out))
    train_split = store.split("train")
    steps_per_epoch = min(len(train_split), config.epoch_images or len(train_split)) // config.batch_size
    if steps_per_epoch == 0:
        raise AlexNetError(f"--batch-size {config.batch_size} is more than the {len(train_split)} "
                           f"training images of {display_path(data)}: use a smaller batch.")
    if not cuda:
        keep_freed_memory()  # each step's activations reuse the last step's memory
    bf16 = config.bf16 if config.bf16 is not None else cuda
    layout = torch.channels_last if config.channels_last else torch.contiguous_format

    # The net with the paper's init, its optimizer and learning-rate schedule (§5)
    torch.manual_seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    random.seed(config.seed + rank)
    net = build_model(config, len(store.classes), device).to(memory_format=layout)
    device = input_device(net, device)
    optimizer = PaperSGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay)
    if config.schedule == "plateau":
        schedule = DivideOnPlateau(optimizer, patience=config.patience, max_drops=config.max_drops)
    else:
        schedule = StepDrops(optimizer)
    # §4.1: crops, flips and lighting drawn on the device from their own generator
    augment_rng = torch.Generator(device).manual_seed(1000 * config.seed + rank + 1)
    mean_image = store.stats.mean_image.to(device)
    lambdas = lighting_lambdas(store.stats.eigenvalues).float().to(device)
    eigenvectors = store.stats.eigenvectors.float().to(device)

    epoch, batch, step, history, meter_state = 0, 0, 0, [], None
    if saved is not None:
        if len(saved["processes"]) != world:
            raise AlexNetError(f"The run in {display_path(out)} was trained by {len(saved['processes'])} "
                               f"process(es): resume it with as many (here: {world}).")
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        schedule.load_state_dict(saved["schedule"])
        epoch, batch, step, history = saved["epoch"], saved["batch"], saved["step"], saved["history"]
        meter_state = saved["processes"][rank]["meter"]
        _set_random_states(saved["processes"][rank]["random"], augment_rng)
    saved_step = step if saved is not None else None
    best_top1 = min((row["val_top1"] for row in history), default=math.inf)

    model = torch.compile(net) if config.compile else net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device] if cuda else None)
    autocast = torch.autocast(device.type, torch.bfloat16) if bf16 else contextlib.nullcontext()
    if lead:
        _print_start(config, store, device, world, bf16, steps_per_epoch, saved_step)
    writer = _tensorboard(out, step) if lead else None

    def save(path: Path = checkpoint_path, weights_only: bool = False) -> None:
        """The first process writes; each process's random states and sums go into the checkpoint."""
        if not all(p.isfinite().all() for p in net.parameters()):
            raise _diverged("weights", step, lr, saved_step, checkpoint_path)
        processes = _gather({"random": _random_states(augment_rng), "meter": meter.state_dict()}, world)
        if lead:
            state = {"config": asdict(config), "model": net.state_dict(), "epoch": epoch,
                     "batch": batch, "step": step, "history": history,
                     "classes": list(store.classes), "class_names": list(store.class_names),
                     "source": store.source}
            if not weights_only:
                state |= {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                          "processes": processes}
            save_checkpoint(path, state)

    while epoch < config.epochs:
        # One epoch: the batches of the epoch's order not done yet (all of them, unless resumed)
        meter = _EpochMeter(device, meter_state)
        model.train()
        batches = epoch_batches(len(train_split), config.batch_size, config.seed, epoch,
                                rank=rank, world=world, epoch_images=config.epoch_images)
        loader = batch_loader(train_split, batches[batch:], config.workers, pin_memory=cuda)
        lr = optimizer.param_groups[0]["lr"]
        bar = tqdm(total=steps_per_epoch * config.batch_size, initial=batch * config.batch_size,
                   unit="img", unit_scale=True, desc=f"epoch {epoch + 1}/{config.epochs}",
                   disable=not (lead and config.progress), dynamic_ncols=True)
        start = time.perf_counter()
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            x = augment_batch(images, mean_image, lambdas, eigenvectors, std=config.lighting,
                              generator=augment_rng).contiguous(memory_format=layout)
            with autocast:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            batch, step = batch + 1, step + 1
            meter.add(step, loss, logits, labels)
            bar.update(len(labels) * world)

            checkpoint = step % config.checkpoint_every == 0
            stopping = stop_after is not None and step >= stop_after
            if step % config.log_every == 0 or checkpoint or stopping:
                last_loss, bad_step = meter.check(device)  # waits for the GPU
                if bad_step is not None:
                    raise _diverged("loss", bad_step, lr, saved_step, checkpoint_path)
                bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lr:g}", refresh=False)
                if writer:
                    writer.add_scalar("train/loss", last_loss, step)
            if checkpoint or stopping:
                meter.seconds += time.perf_counter() - start
                start = time.perf_counter()
                save()
                saved_step = step
            if stopping:
                bar.close()
                if writer:
                    writer.close()
                if lead:
                    print(f"Stopped after step {step} (--stop-after): continue with --resume.")
                return history
        _, bad_step = meter.check(device)
        if bad_step is not None:
            raise _diverged("loss", bad_step, lr, saved_step, checkpoint_path)
        meter.seconds += time.perf_counter() - start
        bar.close()

        # Validation on 1 view, in float32 (bf16 scores tie); its top-1 error drives the schedule
        val_top1, val_top5 = validate(net, store, device, batch_size=config.batch_size,
                                      workers=config.workers, rank=rank, world=world)
        schedule.step(val_top1)

        summary = meter.summary(device)
        row = {"epoch": epoch + 1, "lr": lr, **summary, "val_top1": val_top1, "val_top5": val_top5,
               "images_per_s": summary["images"] / meter.seconds, "seconds": meter.seconds}
        history.append(row)
        epoch, batch, meter_state = epoch + 1, 0, None
        meter = _EpochMeter(device)
        if lead:
            print(f"epoch {epoch}: loss {row['train_loss']:.3f}; top-1 / top-5 error: train "
                  f"{row['train_top1']:.1%} / {row['train_top5']:.1%}, val {val_top1:.1%} / "
                  f"{val_top5:.1%}; lr {lr:g}; {row['images_per_s']:.1f} img/s", flush=True)
            _write_csv(out / "log.csv", history)
            if writer:
                for name in LOG_COLUMNS[1:]:
                    writer.add_scalar(f"epoch/{name}", row[name], epoch)
                writer.flush()
        save()
        saved_step = step
        if val_top1 < best_top1:
            best_top1 = val_top1
            save(out / "best.pt", weights_only=True)
    if writer:
        writer.close()
    return history


def validate(net: nn.Module, store, device: torch.device, *, batch_size: int, workers: int,
             rank: int = 0, world: int = 1) -> tuple[float, float]:
    """Paper §5: top-1 and top-5 error on the store's validation split, 1 view (the centre patch).

    With ``world`` processes each scores every ``world``-th image and the counts are added up.
    (With fewer than 5 classes, "top-5" is top-k with k = the number of classes.)
    """
    split = store.split("val")
    shard = list(range(rank, len(split), world))
    batches = [shard[i:i + batch_size] for i in range(0, len(shard), batch_size)]
    loader = batch_loader(split, batches, workers, pin_memory=device.type == "cuda")
    k5 = min(5, len(store.classes))
    errors = evaluate(CentreCrop(net, store.stats.mean_image.to(device)), loader, device, ks=(1, k5))
    misses1, misses5, count = _sum_over_processes(
        [errors[1] * len(shard), errors[k5] * len(shard), len(shard)], device)
    return misses1 / count, misses5 / count


def _check_same_run(saved: TrainConfig, config: TrainConfig, out: Path) -> None:
    """A resumed run keeps its recipe: only the `RESUMABLE` settings may change."""
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RESUMABLE and getattr(saved, f.name) != getattr(config, f.name)]
    if changed:
        name = changed[0]
        raise AlexNetError(
            f"--{name.replace('_', '-')} {getattr(config, name)} differs from the run in "
            f"{display_path(out)} ({getattr(saved, name)}): a resumed run keeps its recipe; start "
            "a new run with another --out to change it."
        )


def resumed_config(flags: dict) -> TrainConfig:
    """For ``--resume``: the saved run's settings, changed by the ``flags`` given (as `make_config`
    takes them); a new run's settings when there is nothing to resume."""
    config = make_config(**flags)
    path = Path(config.out or runs_root() / config.profile) / "checkpoint.pt"
    if not path.is_file():
        return config
    saved = TrainConfig(**load_checkpoint(path, mmap=True)["config"])
    resumed = replace(saved, **{k: v for k, v in flags.items() if k in RESUMABLE})
    _check_same_run(saved, replace(resumed, **flags), path.parent)
    return resumed


def _print_start(config, store, device, world, bf16, steps, resumed_at):
    profile = PROFILE_DEFAULTS[config.profile]
    recipe = ", ".join(
        f"{f.name}={getattr(config, f.name)}"
        + (" (profile)" if profile.get(f.name, f) == getattr(config, f.name) else "")
        for f in fields(TrainConfig) if f.name not in ("profile", "data", "out", "progress", "bf16")
    )
    train_split, val_split = store.split("train"), store.split("val")
    print(f"data    : {display_path(Path(config.data))}: {store.source}; {len(train_split)} train / "
          f"{len(val_split)} val images, {len(store.classes)} classes")
    print(f"device  : {device_name(device)}, {world} process(es); bf16 autocast {'on' if bf16 else 'off'}")
    print(f"recipe  : profile {config.profile}; {recipe}")
    print(f"output  : {display_path(Path(config.out))}; {steps} steps per epoch"
          + (f"; resumed at step {resumed_at}" if resumed_at is not None else ""), flush=True)


# --- Command line --------------------------------------------------------------------------------

class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag prints one line (not the usage block) and exits with status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(argv: list[str] | None = None) -> tuple[dict, bool, int | None]:
    """The flags given on the command line (only those), whether to resume, and --stop-after."""
    p = OneLineParser(prog="python -m alexnet_lib.train", argument_default=argparse.SUPPRESS,
                      description="Train AlexNet the paper's way (§5) on a prepared store.")
    flag, switch = p.add_argument, argparse.BooleanOptionalAction
    flag("--profile", choices=list(PROFILES), help="data and defaults (default: ALEXNET_PROFILE, else smoke)")
    flag("--data", metavar="DIR", help="prepared store (default: the profile's, from alexnet_lib.data.prepare)")
    flag("--out", metavar="DIR", help="run folder for checkpoints and logs (default: runs/<profile>)")
    flag("--resume", action="store_true", default=False, help="continue the run in --out from its checkpoint")
    flag("--stop-after", type=int, metavar="N", default=None, help="stop after N steps in all (then --resume)")
    flag("--model", choices=list(MODELS), help="paper (default), one-gpu (§3.2), two-tower (2 GPUs)")
    flag("--init", choices=list(INITS), help="paper (§5, default) or pytorch (torch's layer defaults)")
    flag("--epochs", type=int, metavar="N", help="passes over the training set (paper: 90)")
    flag("--batch-size", type=int, metavar="N", help="images per step, over all processes (paper: 128)")
    flag("--lr", type=float, help="initial learning rate (paper: 0.01)")
    flag("--schedule", choices=list(SCHEDULES), help="plateau (§5, default) or 2012 (/10 after epochs 25, 51, 79)")
    flag("--dropout-rule", choices=["paper", "inverted"], help="§4.2's halving at test time (default) or nn.Dropout")
    flag("--remove-conv", choices=["conv2", "conv3", "conv4"],
         help="§7's depth ablation: the paper net without this middle conv layer")
    flag("--epoch-images", type=int, metavar="N", help="images per epoch (default: the whole training set)")
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
        config = resumed_config(flags) if resume else make_config(**flags)
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
