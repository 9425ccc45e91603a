"""Paper §3.1 (Figure 1) and §3.3: CIFAR-10, read from its python-pickle batches."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from ..config import data_root
from ..errors import AlexNetError
from .arrays import ImageArrays
from .download import download_dataset
from .standin import CIFAR_FOLDER, is_standin

TRAIN_FILES = tuple(f"data_batch_{b}" for b in range(1, 6))
TEST_FILES = ("test_batch",)


def load_cifar10(root: str | Path | None = None, train: bool = True, download: bool = False) -> ImageArrays:
    """Paper §3.1 and §3.3: CIFAR-10 as N×3×32×32 uint8 images (50,000 train or 10,000 test when real).

    We read the pickles ourselves rather than through torchvision's `CIFAR10`, whose md5 check
    rejects the generated stand-in: the same reader serves both. ``root`` (default
    ``data_root()/"cifar10"``) holds ``cifar-10-batches-py/``; with ``download=True`` a missing copy
    is downloaded and extracted first (`alexnet_lib.data.download`: checksummed, resumable). The
    stand-in is ``data_root()/"standin"/"cifar10"``.
    """
    root = Path(root) if root is not None else data_root() / "cifar10"
    batches = root / CIFAR_FOLDER
    if not batches.is_dir() and download:
        download_dataset("cifar10", batches)
    if not batches.is_dir():
        raise AlexNetError(f"CIFAR-10 is not at {batches}. {_how_to_get(root)}")

    images, labels = [], []
    for name in TRAIN_FILES if train else TEST_FILES:
        batch = _unpickle(batches / name)
        images.append(torch.from_numpy(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)))
        labels.append(torch.tensor(batch[b"labels"], dtype=torch.int64))
    classes = [name.decode() for name in _unpickle(batches / "batches.meta")[b"label_names"]]
    if is_standin(root) or is_standin(batches):  # generated here, or extracted from the stand-in's archive
        source = "stand-in CIFAR-10 (generated, NOT the real dataset)"
    else:
        source = "real CIFAR-10 (Krizhevsky, 2009)"
    return ImageArrays(torch.cat(images), torch.cat(labels), classes, source)


def _unpickle(path: Path) -> dict:
    """One CIFAR-10 file, read as the dataset's page says: Python 2 strings come back as bytes."""
    if not path.is_file():
        raise AlexNetError(f"CIFAR-10 is incomplete: {path} is missing. {_how_to_get(path.parents[1])}")
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def _how_to_get(root: Path) -> str:
    return (
        f"Put the real CIFAR-10 in {root / CIFAR_FOLDER}/ (data_batch_1..5, test_batch, batches.meta): "
        "call load_cifar10(download=True) on a machine that is online, or extract cifar-10-python.tar.gz from "
        f"https://www.cs.toronto.edu/~kriz/cifar.html into {root}. For the generated stand-in, run "
        "`python -m alexnet_lib.data.standin` and pass root=data_root() / 'standin' / 'cifar10'."
    )
