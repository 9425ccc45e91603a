"""Paper §5: what a run keeps in its folder, so that a killed run continues exactly.

``checkpoint.pt`` (everything needed to continue, written atomically), the random states it
holds, ``log.csv`` and TensorBoard's curves; and the rule of a resumed run: same recipe, same data.
"""

from __future__ import annotations

import csv
import os
import random
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch

from .config import display_path, runs_root
from .errors import AlexNetError
from .recipe import RESUMABLE, TrainConfig, make_config


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


def random_states(augment_rng: torch.Generator) -> dict:
    """Every random state a run draws from: torch (dropout), CUDA, NumPy, Python, augmentation."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
        "python": random.getstate(),
        "augment": augment_rng.get_state(),
    }


def set_random_states(states: dict, augment_rng: torch.Generator) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    augment_rng.set_state(states["augment"])


def check_same_run(saved: TrainConfig, config: TrainConfig, out: Path) -> None:
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
    check_same_run(saved, replace(resumed, **flags), path.parent)
    return resumed


LOG_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "train_top5", "val_top1", "val_top5",
               "images_per_s", "seconds")


def write_csv(path: Path, history: list[dict]) -> None:
    """The whole log, rewritten each epoch (atomically), so it always matches the checkpoint."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", newline="") as file:
        writer = csv.DictWriter(file, LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)
    os.replace(partial, path)


def tensorboard(out: Path, step: int):
    """A TensorBoard writer (events after ``step`` from a killed run are dropped), or None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("TensorBoard is not installed (pip install tensorboard): logging to log.csv only.")
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=step)


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise AlexNetError(
            f"Cannot write to the output folder {out} ({err.strerror}): pick another with --out."
        ) from None


