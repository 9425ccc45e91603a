"""Paper §2 and §3.1: every dataset the book reads, real or generated, behind a few functions.

* `load_small_dataset` — the small-net experiments' data: real Fashion-MNIST (smoke) or CIFAR-10.
* `imagenet_root` / `imagenet_folder` — ImageNet-layout folders: the stand-in, Imagenette, ILSVRC-2012.
* `make_standin` — generate the stand-in ImageNet and CIFAR-10 (not real data) in seconds.
* `photographs` — real colour photographs from scikit-image.
* `mean_image` / `compute_mean_image` — the §2 per-pixel mean.
* `rgb_covariance` / `rgb_eigen` / `DatasetStats` / `compute_dataset_stats` — §4.1's RGB PCA, kept
  on disk with the mean image.
* `prepare_imagenet` / `open_prepared` / `prepared_root` — ImageNet prepared once (§2's 256×256
  images, compact, with their statistics) and read back in batches (`PreparedStore`, `PreparedSplit`).

data/README.md says where each dataset goes and how to get it.
"""

from __future__ import annotations

from importlib import import_module

from ..config import Profile, get_profile
from .arrays import ImageArrays

# Each name is imported from its module on first use (PEP 562) rather than here, so that importing
# the package does not import its command-line modules: `python -m alexnet_lib.data.standin` then
# runs standin.py once, as __main__, and Python has no reason to warn about a second copy.
_MODULE_OF = {
    "load_cifar10": "cifar",
    "ensure_fashion_mnist": "fashion_mnist",
    "load_fashion_mnist": "fashion_mnist",
    "imagenet_folder": "imagenet",
    "imagenet_root": "imagenet",
    "load_rgb": "imagenet",
    "photographs": "photos",
    "CIFAR10_CLASSES": "standin",
    "STANDIN_CLASSES": "standin",
    "is_standin": "standin",
    "make_standin": "standin",
    "compute_mean_image": "stats",
    "mean_image": "stats",
    "rgb_covariance": "stats",
    "rgb_eigen": "stats",
    "DatasetStats": "stats",
    "compute_dataset_stats": "stats",
    "prepare_imagenet": "prepare",
    "open_prepared": "prepare",
    "prepared_root": "prepare",
    "PreparedStore": "prepare",
    "PreparedSplit": "prepare",
}
__all__ = ["ImageArrays", "load_small_dataset", *_MODULE_OF]


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_MODULE_OF[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


def load_small_dataset(train: bool = True, profile: Profile | str | None = None) -> ImageArrays:
    """Paper §3.1 (Figure 1) and §3.3: the profile's small dataset, whole, as an `ImageArrays`.

    Real Fashion-MNIST under ``smoke`` (offline; 1×28×28), real CIFAR-10 under ``course`` and
    ``paper`` (3×32×32; downloaded on first use, `alexnet_lib.data.download`).
    """
    from .cifar import load_cifar10
    from .fashion_mnist import load_fashion_mnist

    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    if profile.small_dataset == "fashion-mnist":
        return load_fashion_mnist(train=train)
    return load_cifar10(train=train, download=True)
