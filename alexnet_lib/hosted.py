"""A chapter opened alone on a hosted Jupyter (Colab and the like): the library's half of its first cell.

Every chapter starts with a short cell that, where `alexnet_lib` cannot be imported, clones the
book's repository, installs it (``pip install -e``, with the ``notebooks`` extra) and calls
`set_up`. In a checkout of the book, where the library imports, the cell does nothing.
"""

from __future__ import annotations

import torch

from .config import banner, environment_profile, get_profile, set_environment_profile
from .data.download import download_dataset
from .data.fashion_mnist import ensure_fashion_mnist
from .data.imagenet import imagenet_root
from .data.standin import make_standin


def no_gpu_message(profile: str) -> str:
    """What running without a GPU means under ``profile``, and how to attach one."""
    if profile == "smoke":
        what = ("the chapters run on the CPU, under the smoke profile (minutes). To run the course profile "
                "(real CIFAR-10 and Imagenette)")
    else:
        what = (f"the {profile} profile runs on the CPU, hours where a GPU takes minutes (a long cell says "
                "first how long). To run it on a GPU")
    return (f"No GPU is attached: {what}, attach one: on Colab, Runtime > Change runtime type > a GPU, then "
            "run the notebook again from the top; elsewhere, start the kernel on a machine with a GPU.")


def set_up(profile: str | None = None) -> str:
    """Pick the profile, say what the kernel runs on, and fetch the profile's data; returns the profile.

    The profile is ``profile``, else `ALEXNET_PROFILE`, else ``course`` with a GPU and ``smoke``
    without (it is written to `ALEXNET_PROFILE`, so the chapter's `get_profile` sees it). The data
    is what ``make data`` and the chapters' first use fetch: the stand-in and Fashion-MNIST (every
    profile shows them), then CIFAR-10 and Imagenette (``course``, downloaded with progress bars,
    checked against their MD5s); ILSVRC-2012 (``paper``) must already be where `imagenet_root` says.
    """
    gpu = torch.cuda.is_available()
    chosen = get_profile(profile or environment_profile() or ("course" if gpu else "smoke"))
    set_environment_profile(chosen.name)
    if not gpu:
        print(no_gpu_message(chosen.name))
    print(banner(chosen))
    make_standin()
    ensure_fashion_mnist()
    if chosen.small_dataset == "cifar10":
        download_dataset("cifar10")
    imagenet_root(chosen, download=True)  # course: downloads Imagenette; paper: says where ILSVRC-2012 goes
    return chosen.name
