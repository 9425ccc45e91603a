"""Profiles, paths, device and seeding: the one switch that sizes every experiment.

`ALEXNET_PROFILE` picks how much of the paper a run reproduces (README.md, "Profiles"):

* ``smoke`` (default): real data that can be had offline (Fashion-MNIST, scikit-image's
  photographs) and a generated ImageNet-layout *stand-in*; CPU or GPU, seconds to minutes.
* ``course``: real CIFAR-10 and a small real ImageNet subset (Imagenette); one GPU, minutes.
* ``paper``: the full ILSVRC-2012 training set and CIFAR-10; one or more GPUs, days -> hours.

`ALEXNET_DATA` says where datasets live (default: the repository's ``data/`` folder), and
`ALEXNET_RUNS` where training runs write their checkpoints and logs (default: ``runs/``);
`ALEXNET_DOWNLOAD_FROM` names a mirror to download the public datasets from. A copy
of the library installed without its checkout (``pip install`` of a wheel) uses the current folder
in place of the repository.

`ALEXNET_IMAGENET` replaces the profile's ImageNet-layout data by another of `IMAGENETS` and
keeps the rest of the profile: ``ALEXNET_IMAGENET=fashion-mnist`` with ``--profile paper`` trains
the real AlexNet, the paper's whole recipe, on real Fashion-MNIST images at 224 pixels (on a CPU).

`ALEXNET_DRY_RUN=1` keeps a profile's code path and data and shrinks only its numbers of images,
steps, epochs and seeds (`DRY_RUN_SIZES`): ``make dry-run`` executes every chapter under ``course``
and ``paper`` that way, on format-exact copies of their archives, in minutes on a CPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from .errors import AlexNetError

# The book's checkout when this library lies in one (an editable install, or run from the repository);
# for a copy installed on its own, the current folder: data/, runs/ and results/ are looked for there.
IN_CHECKOUT = (Path(__file__).resolve().parents[1] / "_toc.yml").is_file()
REPO_ROOT = Path(__file__).resolve().parents[1] if IN_CHECKOUT else Path.cwd().resolve()
INSTALLED_COPY_HINT = (
    "" if IN_CHECKOUT else
    f" This alexnet_lib is an installed copy ({Path(__file__).resolve().parent}), not the book's checkout: "
    "the stored results and measured figures come with the repository. Run inside a clone of it, "
    "or install the clone with `pip install -e <clone>`."
)


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


# The ImageNet-layout datasets a profile can read (`alexnet_lib.data.imagenet` says where each lives).
IMAGENETS = {
    "standin": "the generated stand-in (NOT real photographs)",
    "imagenette": "Imagenette, 10 real ImageNet classes",
    "ilsvrc2012": "ILSVRC-2012, your copy",
    "fashion-mnist": "real Fashion-MNIST images (60,000 + 10,000, 10 classes) upscaled to 256x256",
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named, or the one `ALEXNET_PROFILE` selects (default ``smoke``); its ImageNet-layout
    data replaced by `ALEXNET_IMAGENET`'s when that is set."""
    name = name or environment_profile() or "smoke"
    try:
        profile = PROFILES[name.strip().lower()]
    except KeyError:
        raise AlexNetError(
            f"Unknown profile {name!r}: set ALEXNET_PROFILE to one of "
            f"{', '.join(PROFILES)} (default: smoke)."
        ) from None
    imagenet = os.environ.get("ALEXNET_IMAGENET", "").strip().lower()
    if imagenet and imagenet != profile.imagenet:
        if imagenet not in IMAGENETS:
            raise AlexNetError(f"Unknown ALEXNET_IMAGENET={imagenet!r}: use one of {', '.join(IMAGENETS)}, "
                               "or unset it for the profile's own.")
        profile = replace(profile, imagenet=imagenet,
                          summary=f"{profile.summary}; ImageNet-layout data: {IMAGENETS[imagenet]} (ALEXNET_IMAGENET)")
    return profile


# The caps ALEXNET_DRY_RUN puts on a chapter's sizes (`sized`, `shrink`): images, batch sizes, steps, epochs
# and the steps between records at most these, seeds the first two.
DRY_RUN_SIZES = {"n_train": 256, "n_val": 128, "n_test": 128, "pictures": 64, "images": 64, "batch": 16,
                 "steps": 4, "epochs": 1, "seeds": 2, "record_every": 1, "record": 1, "epoch_images": 32,
                 "val_images": 32, "test_images": 32, "ica_patches": 2000, "bank": 1000, "test": 128}
# The settings a dry run keeps as they are: what is computed, not how much of it. A key in neither
# table is an error, so that a size named otherwise is never silently left at its full value.
DRY_RUN_KEEPS = {"dataset", "imagenet", "lr", "lrs", "weight_decay", "threshold", "thresholds", "left_at", "side",
                 "hidden", "classes", "scale", "conv1_std", "ica_iterations", "inits", "removed", "result", "shown",
                 "queries", "neighbours", "patience", "bf16"}


def dry_run() -> bool:
    """Whether `ALEXNET_DRY_RUN` is set (to anything but 0): a profile's code path at tiny sizes."""
    return os.environ.get("ALEXNET_DRY_RUN", "0").strip() not in ("", "0")


def shrink(sizes: dict, keep: tuple[str, ...] = ()) -> dict:
    """``sizes`` capped by `DRY_RUN_SIZES`: a list or tuple of seeds keeps its first ones, any other
    list or tuple (epochs per phase) is capped element-wise; the keys of `DRY_RUN_KEEPS` and
    ``keep`` are kept. Any other key is an `AlexNetError`."""
    unknown = sorted(set(sizes) - set(DRY_RUN_SIZES) - DRY_RUN_KEEPS - set(keep))
    if unknown:
        raise AlexNetError(f"The dry run does not know the size(s) {', '.join(unknown)}: add each to "
                           "alexnet_lib.config.DRY_RUN_SIZES (a count it caps) or DRY_RUN_KEEPS (a setting it keeps).")
    sizes = dict(sizes)
    for key, cap in DRY_RUN_SIZES.items():
        value = sizes.get(key)
        if key == "seeds" and isinstance(value, (list, tuple)):
            sizes[key] = value[:cap]
        elif isinstance(value, (list, tuple)):
            sizes[key] = type(value)(min(v, cap) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            sizes[key] = min(value, cap)
    return sizes


def sized(settings: dict[str, dict], profile: Profile | str | None = None) -> dict:
    """The profile's entry of ``settings`` (one dict of sizes per profile), `shrink`-ed under `dry_run`:
    ``{"smoke": dict(n_train=1000, epochs=5), "course": ...}`` -> that profile's dict."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    return shrink(settings[profile.name]) if dry_run() else dict(settings[profile.name])


def environment_profile() -> str | None:
    """The profile `ALEXNET_PROFILE` names; None where it is unset or empty."""
    return os.environ.get("ALEXNET_PROFILE") or None


def set_environment_profile(name: str) -> None:
    """Make ``name`` the profile that `get_profile` picks here and in the processes started from here."""
    os.environ["ALEXNET_PROFILE"] = name


def data_root() -> Path:
    """Where datasets live: `ALEXNET_DATA`, else the repository's ``data/`` folder."""
    return Path(os.environ.get("ALEXNET_DATA", REPO_ROOT / "data")).expanduser().resolve()


def runs_root() -> Path:
    """Where training runs write checkpoints and logs: `ALEXNET_RUNS`, else the repository's ``runs/``."""
    return Path(os.environ.get("ALEXNET_RUNS", REPO_ROOT / "runs")).expanduser().resolve()


# The variable naming a mirror (a base URL) to download every dataset archive from (`alexnet_lib.data.download`)
MIRROR = "ALEXNET_DOWNLOAD_FROM"


def download_mirror() -> str | None:
    """The base URL `ALEXNET_DOWNLOAD_FROM` names; None (unset or empty): the archives' own URLs."""
    return os.environ.get(MIRROR) or None


def profile_runs(profile: Profile | str | None = None) -> Path:
    """Where a profile's training run writes by default: ``runs/<profile>``, or
    ``runs/<profile>-<imagenet>`` when `ALEXNET_IMAGENET` gave it other data (``runs/paper-fashion-mnist``)."""
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    own = PROFILES[profile.name].imagenet == profile.imagenet
    return runs_root() / (profile.name if own else f"{profile.name}-{profile.imagenet}")


def get_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def native_bf16(device: torch.device | None = None) -> bool:
    """Whether bf16 arithmetic runs in hardware on ``device``: a CUDA GPU, or a CPU whose kernels in
    use have AVX512-BF16 or AMX (not under an older CPU's kernels, where bf16 is emulated, ~25x slower)."""
    device = device or get_device()
    if device.type == "cuda":
        return True
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AVX512_BF16", "AMX"):
        return False
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() not in ("", "ALL", "AVX512_CORE_BF16", "AVX512_CORE_AMX"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f" {flag}" in flags for flag in ("avx512_bf16", "amx_bf16"))


# keep_freed_memory's settings: glibc's M_<name> (also read from the environment as MALLOC_<name>_)
KEEP_FREED = {"MMAP_MAX": 0, "TRIM_THRESHOLD": 2**31 - 1}
_MALLOPT_PARAMETER = {"TRIM_THRESHOLD": -1, "MMAP_MAX": -4}  # M_TRIM_THRESHOLD, M_MMAP_MAX in <malloc.h>


def keep_freed_memory() -> bool:
    """On the CPU: let this process reuse the memory it frees instead of handing it back to Linux.

    A training step allocates the same large activations every time (64 x 96 x 55 x 55 floats
    after conv1 is 74 MB). glibc's malloc serves every block over 32 MB with a fresh ``mmap`` and
    returns it on ``free``, so each step touches new pages that the kernel must fault in and zero:
    ~20 ms per 74 MB on a 2-core machine, more than the arithmetic of a ReLU on it. Two settings
    (``mallopt``) make malloc keep freed blocks on its heap: no ``mmap`` and no trimming. The
    heap then stays at the step's peak size. Returns False (and changes nothing) where the C
    library is not glibc. ``benchmarks/README.md`` has the measurements.
    """
    path = ctypes.util.find_library("c")
    libc = ctypes.CDLL(path) if path else None
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return all(libc.mallopt(_MALLOPT_PARAMETER[name], value) for name, value in KEEP_FREED.items())


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
    threads = torch.get_num_threads()
    return f"CPU ({platform.processor() or platform.machine()}, {threads} thread{'' if threads == 1 else 's'})"


def display_path(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (pages never show a home folder).

    A path in a run folder that `ALEXNET_RUNS` moved elsewhere is shown as ``$ALEXNET_RUNS/...``.
    """
    path = Path(path)
    if path.is_relative_to(REPO_ROOT):
        return str(path.relative_to(REPO_ROOT))
    if path.is_relative_to(runs_root()):  # the default runs/ is inside the repository: seen above
        return str("$ALEXNET_RUNS" / path.relative_to(runs_root()))
    return str(path)


def recorded(name: str) -> dict:
    """A measured figure the chapters quote, from ``benchmarks/recorded.json``: its ``value``, ``unit``,
    ``what``, ``command``, ``machine``, ``torch`` and ``date`` (benchmarks/README.md reports them)."""
    import json

    path = REPO_ROOT / "benchmarks" / "recorded.json"
    if not path.is_file():
        raise AlexNetError(f"No {display_path(path)}: the measured figures the chapters quote are not here."
                           + INSTALLED_COPY_HINT)
    figures = json.loads(path.read_text())["figures"]
    if name not in figures:
        raise AlexNetError(f"No recorded figure {name!r} in benchmarks/recorded.json; it has {', '.join(figures)}.")
    return figures[name]


def banner(profile: Profile | None = None) -> str:
    """The first output of every chapter: which profile, device and data this page ran on."""
    profile = profile or get_profile()
    return (
        f"profile : {profile.name} ({profile.summary})\n"
        f"device  : {device_name()}\n"
        f"data    : {display_path(data_root())}/\n"
        f"torch   : {torch.__version__}"
    )
