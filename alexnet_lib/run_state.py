"""Paper §5: where a training run stands, and the checkpoint that keeps it.

Each epoch reads the training set in a permutation of (seed, epoch) alone (`epoch_batches`), so
where a run stands is (epoch, batch). `RunState` holds that, with the net, the paper's SGD and its
learning-rate schedule, the augmentation's generator and the log so far. `start_run` makes a new
run's state or a saved one's; `save_checkpoint` writes it, with every process's random states and
sums, so that a resumed run takes exactly the steps an uninterrupted one would have taken.
"""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import display_path
from .data.store import PreparedStore
from .distributed import gather
from .errors import AlexNetError
from .meter import EpochMeter
from .optim import DivideOnPlateau, PaperSGD, StepDrops
from .recipe import TrainConfig, build_model, check_same_run, input_device
from .run_folder import check_room, load_checkpoint, random_states, set_random_states, write_checkpoint


@dataclass
class RunState:
    """One process's part in a run (§5): the run, what trains, and where it stands."""

    # The run: its settings (data, out and workers decided), its data and folder, this process
    config: TrainConfig
    store: PreparedStore
    out: Path
    rank: int
    world: int
    device: torch.device  # where the net's input goes
    # What trains: the net (``model``: the same net compiled or under DDP, as configured), §5's
    # SGD and learning-rate schedule, and the generator of §4.1's crops, flips and lighting
    net: nn.Module
    model: nn.Module
    optimizer: PaperSGD
    schedule: DivideOnPlateau | StepDrops
    augment_rng: torch.Generator
    # Where it stands: epochs done, batches of the epoch under way done, steps in all; the epoch's
    # sums so far and its learning rate (a schedule's change at the epoch's end counts from the next)
    meter: EpochMeter
    lr: float
    epoch: int = 0
    batch: int = 0
    step: int = 0
    history: list[dict] = field(default_factory=list)  # the log: one row per epoch done
    best_top1: float = math.inf  # the lowest validation top-1 error so far: best.pt's
    saved_step: int | None = None  # the step of the last checkpoint.pt (None: none yet)

    @property
    def lead(self) -> bool:
        """Whether this is the first process, which alone writes files and prints."""
        return self.rank == 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.pt"

    @property
    def bf16(self) -> bool:
        return self.config.bf16 if self.config.bf16 is not None else self.device.type == "cuda"

    def autocast(self):
        return torch.autocast(self.device.type, torch.bfloat16) if self.bf16 else contextlib.nullcontext()


def previous_run(config: TrainConfig, out: Path, resume: bool, lead: bool) -> dict | None:
    """With ``resume``: the checkpoint in ``out`` (whose recipe must be ``config``'s), or None when
    there is none. Without: None, refusing a folder that holds a run already."""
    path = out / "checkpoint.pt"
    if resume and path.is_file():
        saved = load_checkpoint(path)
        check_same_run(TrainConfig(**saved["config"]), config, out)
        return saved
    if resume and lead:
        print(f"Nothing to resume in {display_path(out)} (no checkpoint.pt): starting a new run.")
    elif path.is_file():
        raise AlexNetError(
            f"{display_path(out)} already holds a run (checkpoint.pt): add --resume to continue "
            "it, or choose another --out."
        )
    return None


def start_run(config: TrainConfig, store: PreparedStore, saved: dict | None, out: Path, rank: int,
              world: int, device: torch.device) -> RunState:
    """Paper §5: a new run's state (the net with its init, `PaperSGD`, the schedule ``config``
    names), or the ``saved`` checkpoint's, continued from where it stands."""
    torch.manual_seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    random.seed(config.seed + rank)
    net = build_model(config, len(store.classes), device).to(memory_format=config.memory_format)
    if rank == 0:
        check_room(out, net)
    device = input_device(net, device)
    optimizer = PaperSGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                         weight_decay=config.weight_decay)
    if config.schedule == "plateau":
        schedule = DivideOnPlateau(optimizer, patience=config.patience, max_drops=config.max_drops)
    else:
        schedule = StepDrops(optimizer)
    # §4.1: crops, flips and lighting drawn on the device from their own generator
    augment_rng = torch.Generator(device).manual_seed(1000 * config.seed + rank + 1)
    state = RunState(config=config, store=store, out=out, rank=rank, world=world, device=device, net=net,
                     model=net, optimizer=optimizer, schedule=schedule, augment_rng=augment_rng,
                     meter=EpochMeter(device), lr=config.lr)
    if saved is not None:
        _restore(state, saved)
    if config.compile:
        state.model = torch.compile(net)
    if world > 1:
        state.model = nn.parallel.DistributedDataParallel(
            state.model, device_ids=[device] if device.type == "cuda" else None)
    return state


def _restore(state: RunState, saved: dict) -> None:
    """Continue ``saved``: its weights, momentum, schedule, position, log, sums and random states."""
    if len(saved["processes"]) != state.world:
        raise AlexNetError(f"The run in {display_path(state.out)} was trained by {len(saved['processes'])} "
                           f"process(es): resume it with as many (here: {state.world}).")
    state.net.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.schedule.load_state_dict(saved["schedule"])
    state.lr = state.optimizer.param_groups[0]["lr"]
    state.epoch, state.batch, state.step, state.history = saved["epoch"], saved["batch"], saved["step"], saved["history"]
    state.best_top1 = min((row["val_top1"] for row in state.history), default=math.inf)
    state.saved_step = state.step
    process = saved["processes"][state.rank]
    state.meter = EpochMeter(state.device, process["meter"])
    set_random_states(process["random"], state.augment_rng)


def save_checkpoint(state: RunState, path: Path | None = None, *, weights_only: bool = False) -> None:
    """Write ``state`` to ``path`` (default: the run's checkpoint.pt) from the first process, with
    every process's random states and epoch sums. ``weights_only`` (best.pt): without the
    optimizer, schedule and processes. Weights that are NaN or infinite stop the run instead."""
    path = path or state.checkpoint_path
    if not all(p.isfinite().all() for p in state.net.parameters()):
        raise diverged("weights", state.step, state)
    processes = gather({"random": random_states(state.augment_rng), "meter": state.meter.state_dict()}, state.world)
    if state.lead:
        checkpoint = {"config": asdict(state.config), "model": state.net.state_dict(), "epoch": state.epoch,
                      "batch": state.batch, "step": state.step, "history": state.history,
                      "classes": list(state.store.classes), "class_names": list(state.store.class_names),
                      "source": state.store.source, "store": state.store.fingerprint}
        if not weights_only:
            checkpoint |= {"optimizer": state.optimizer.state_dict(), "schedule": state.schedule.state_dict(),
                           "processes": processes}
        write_checkpoint(path, checkpoint)
    if path == state.checkpoint_path:
        state.saved_step = state.step


def diverged(what: str, step: int, state: RunState) -> AlexNetError:
    """The error that stops a run whose ``what`` (loss, weights) became NaN or infinite at ``step``."""
    kept = (f"the last good checkpoint ({display_path(state.checkpoint_path)}, step {state.saved_step}) is kept"
            if state.saved_step is not None else "no checkpoint had been written yet")
    return AlexNetError(
        f"The {what} became NaN or infinite at step {step} (lr {state.lr:g}): training diverged and was "
        f"stopped; {kept}. Lower --lr and start again with a new --out."
    )
