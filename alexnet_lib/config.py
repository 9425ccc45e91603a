"""Profiles, paths, device and seeding: the one switch that sizes every experiment.

`ALEXNET_PROFILE` picks how much of the paper a run reproduces (DESIGN.md):

* ``smoke`` (default): real data that can be had offline (Fashion-MNIST, scikit-image's
  photographs) and a generated ImageNet-layout *stand-in*; CPU or GPU, seconds to minutes.
* ``course``: real CIFAR-10 and a small real ImageNet subset (Imagenette); one GPU, minutes.
* ``paper``: the full ILSVRC-2012 training set and CIFAR-10; one or more GPUs, days -> hours.

`ALEXNET_DATA` says where datasets live (default: the repository's ``data/`` folder).
"""

from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import AlexNetError

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Profile:
    """How much of the paper a run reproduces, and on which data."""

    name: str
    summary: str
    small_dataset: str  # the small-net experiments (§3.1 Figure 1, §3.3 CIFAR claim)
    imagenet: str  # which ImageNet-layout folder the big-net chapters read


PROFILES = {
    "smoke": Profile(
        "smoke",
        "real offline data (Fashion-MNIST, photographs) + generated ImageNet stand-in; CPU ok",
        small_dataset="fashion-mnist",
        imagenet="standin",
    ),
    "course": Profile(
        "course",
        "real CIFAR-10 + a small real ImageNet subset (Imagenette); one GPU",
        small_dataset="cifar10",
        imagenet="imagenette",
    ),
    "paper": Profile(
        "paper",
        "full ILSVRC-2012 (your copy) + CIFAR-10; one or more GPUs",
        small_dataset="cifar10",
        imagenet="ilsvrc2012",
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named, or the one `ALEXNET_PROFILE` selects (default ``smoke``)."""
    name = name or os.environ.get("ALEXNET_PROFILE", "smoke")
    try:
        return PROFILES[name.strip().lower()]
    except KeyError:
        raise AlexNetError(
            f"Unknown profile {name!r}: set ALEXNET_PROFILE to one of "
            f"{', '.join(PROFILES)} (default: smoke)."
        ) from None


def data_root() -> Path:
    """Where datasets live: `ALEXNET_DATA`, else the repository's ``data/`` folder."""
    return Path(os.environ.get("ALEXNET_DATA", REPO_ROOT / "data")).expanduser().resolve()


def get_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA): a seeded run repeats itself on the CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def device_name(device: torch.device | None = None) -> str:
    """A readable name for the device: the GPU model, or the CPU and its core count."""
    device = device or get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (pages never show a home folder)."""
    path = Path(path)
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def banner(profile: Profile | None = None) -> str:
    """The first output of every chapter: which profile, device and data this page ran on."""
    profile = profile or get_profile()
    return (
        f"profile : {profile.name} ({profile.summary})\n"
        f"device  : {device_name()}\n"
        f"data    : {display_path(data_root())}/\n"
        f"torch   : {torch.__version__}"
    )
