"""Paper §5: what a run keeps in its folder, so that a killed run continues exactly.

``checkpoint.pt`` (everything needed to continue, written atomically), the random states it
holds, ``log.csv`` and TensorBoard's curves; the rule that a resumed run reads the data it was
trained on (its recipe's rule is `alexnet_lib.recipe.check_same_run`); and ``lock``, which keeps a
second trainer out of a folder in use.

Every file is written by `write_atomic`: a kill at any moment leaves the previous file or the new
one, never half of one, and a full disk or a Ctrl-C during a write ends in one line.
"""

from __future__ import annotations

import csv
import fcntl
import os
import random
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import display_path
from .errors import AlexNetError
from .files import write_atomic


def tensor_bytes(state) -> int:
    """The bytes of every tensor in ``state`` (nested dicts and lists): about a checkpoint's size."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, dict):
        return sum(tensor_bytes(v) for v in state.values())
    if isinstance(state, (list, tuple)):
        return sum(tensor_bytes(v) for v in state)
    return 0


def write_checkpoint(path: Path, checkpoint: dict) -> None:
    """Write ``checkpoint`` to ``path`` atomically (`write_atomic`)."""
    write_atomic(path, lambda file: torch.save(checkpoint, file), need_bytes=tensor_bytes(checkpoint),
                 then="continue with --resume")


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
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise AlexNetError(
            f"Cannot read the checkpoint {path} ({reason}): it is damaged or not a checkpoint (the trainer "
            f"writes whole files only). Restore a copy, or delete it and start the run again; best.pt, if "
            "present, keeps the best weights so far."
        ) from None


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


def check_same_data(saved: dict, store, out: Path) -> None:
    """A resumed run reads the store it was trained on (moved or copied is fine): same classes, same contents."""
    classes, fingerprint = saved.get("classes"), saved.get("store")
    if list(store.classes) != list(classes) or (fingerprint is not None and fingerprint != store.fingerprint):
        what = (f"{len(store.classes)} classes against the run's {len(classes)}" if len(store.classes) != len(classes)
                else "other classes than the run's" if list(store.classes) != list(classes)
                else "other images than the run's")
        raise AlexNetError(
            f"The store {display_path(store.path)} holds {what} (the run in {display_path(out)} was trained on "
            f"{saved['config']['data']}): resume with the run's own data (--data), or start a new run with "
            "another --out."
        )


def check_store(store) -> None:
    """Before the first step: a store a run can train and validate on."""
    for split in ("train", "val"):
        if store.split_sizes.get(split, {}).get("images", 0) == 0:
            raise AlexNetError(
                f"The store {display_path(store.path)} has no readable {split} image: prepare it again from "
                f"a source whose {split} split has images (python -m alexnet_lib.data.prepare --force)."
            )


LOG_COLUMNS = ("epoch", "lr", "train_loss", "train_top1", "train_top5", "val_top1", "val_top5",
               "images_per_s", "seconds")


def write_csv(path: Path, history: list[dict]) -> None:
    """The whole log, rewritten each epoch (atomically), so it always matches the checkpoint."""
    def write(file):
        writer = csv.DictWriter(file, LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(history)

    write_atomic(path, write, mode="w")


def read_csv(path: Path) -> list[dict]:
    """A run's ``log.csv`` as `write_csv` wrote it, one dict per epoch, numbers as floats and epochs
    as ints; [] before the first epoch ends. How a run that another process trains is followed."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as file:
        return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def tensorboard(out: Path, step: int):
    """A TensorBoard writer, or None; ``step``: the step of the checkpoint the run continues from.

    Every event is logged at a global step (the epoch's curves at the step that ended the epoch),
    so one rule undoes what a killed run wrote after its checkpoint: TensorBoard drops the events
    from step ``step + 1`` on (``purge_step``). The event at ``step`` itself came before the
    checkpoint and stays. The curves of a killed and resumed run are then an uninterrupted run's.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("TensorBoard is not installed (pip install tensorboard): logging to log.csv only.")
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=step + 1)


class RunLock:
    """One trainer per run folder: ``with RunLock(out):`` holds ``out/lock`` or refuses in one line.

    The lock is an ``flock`` on the file, which the kernel releases when its process ends, however
    it ends (kill -9 too): a killed run's lock is free for the next trainer, which says whose it
    was. The file names the holder (process, host, start time) for the refusal. Holding the lock,
    the trainer removes the temporary ``*.partial`` files that killed writers left in the folder.
    ``name``, ``who`` and ``instead`` let another command lock one job of a shared folder (one
    experiment's run in ``results/``); ``tidy=False`` leaves the folder's temporary files alone.
    """

    def __init__(self, out: Path, name: str = "lock", who: str = "trainer", instead: str = "choose another --out",
                 tidy: bool = True):
        self.out, self.name, self.who, self.instead, self.tidy = out, name, who, instead, tidy
        self.file = None

    def __enter__(self) -> "RunLock":
        self.file = open(self.out / self.name, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise AlexNetError(
                f"Another {self.who} is using {display_path(self.out / self.name)} ({holder}): wait for it to "
                f"finish, or {self.instead}."
            ) from None
        self.file.seek(0)
        previous = self.file.read().strip()
        if previous:  # a holder that ended without releasing: killed
            print(f"The last {self.who} ({previous}) was stopped without cleaning up: taking over.")
        if self.tidy:
            for partial in self.out.glob("*.partial"):
                partial.unlink(missing_ok=True)
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()} on {socket.gethostname()}, since "
                        f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        self.file.flush()
        return self

    def __exit__(self, *exc) -> None:
        self.file.seek(0)
        self.file.truncate()  # a clean end: no holder to report
        self.file.close()  # releases the flock



def running(pid_file: Path) -> bool:
    """Whether the process whose id ``pid_file`` holds (a trainer started in the background) is alive."""
    try:
        os.kill(int(pid_file.read_text()), 0)  # signal 0: only asks whether the process exists
        return True
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False


def check_room(out: Path, net: nn.Module) -> None:
    """Before the first step: the disk of ``out`` can hold what the run will write, so that a full
    disk is found now and not at the first checkpoint, an epoch (hours, on ImageNet) later.

    The run keeps ``checkpoint.pt`` (weights and momentum: twice the weights), ``best.pt`` (the
    weights), and writes each anew beside the old one before renaming it: at most twice the
    checkpoint and the weights once more, less what the run folder holds already.
    """
    weights = tensor_bytes(net.state_dict())
    need = 2 * (2 * weights) + weights
    held = sum(f.stat().st_size for f in (out / "checkpoint.pt", out / "best.pt") if f.is_file())
    free = shutil.disk_usage(out).free
    if free + held < need:
        raise AlexNetError(
            f"The disk of {display_path(out)} has {free / 1e6:,.0f} MB free; this run's checkpoints need about "
            f"{need / 1e6:,.0f} MB (checkpoint.pt, written anew beside the old one, and best.pt): free some "
            "space or choose another --out."
        )


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


