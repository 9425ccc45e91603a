"""Paper §3.1 and §3.3, smoke profile: real Fashion-MNIST, the small dataset that can be had offline.

The paper's small-net experiments use CIFAR-10, which cannot be had offline. Fashion-MNIST
(Zalando Research, 2017: 28×28 greyscale photographs of clothing, 10 classes) is the real dataset
the smoke profile uses instead: Debian ships it (``apt-get install dataset-fashion-mnist``).

Command line: ``python -m alexnet_lib.data.fashion_mnist [--root DIR]`` prepares it and prints counts.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
from pathlib import Path

import torch
from torchvision.datasets import FashionMNIST

from ..config import data_root
from ..errors import AlexNetError
from .arrays import ImageArrays

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # where dataset-fashion-mnist puts the .gz files
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def ensure_fashion_mnist(root: str | Path | None = None, download: bool = True) -> Path:
    """Paper §3.1 and §3.3, smoke profile: make sure ``root/FashionMNIST/raw/`` holds the four idx files.

    In order: files already there; else gunzip Debian's copy from ``DEBIAN_DIR``; else (when
    ``download``) let torchvision download them; else raise `AlexNetError` saying how to get them.
    Returns the raw folder. (Debian recompressed the .gz files, so torchvision's md5 list does not
    match them: we gunzip them ourselves, which gives the original bytes.)
    """
    root = Path(root) if root is not None else data_root()
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in FILES):
        return raw
    if all((DEBIAN_DIR / f"{name}.gz").is_file() for name in FILES):
        raw.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            partial = raw / f"{name}.partial"
            with gzip.open(DEBIAN_DIR / f"{name}.gz", "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(partial, raw / name)  # an interrupted copy never looks complete
        return raw
    how = (
        f"Install Debian's copy (`sudo apt-get install dataset-fashion-mnist`, which puts it in {DEBIAN_DIR}) "
        "or go online so torchvision can download it; then run `python -m alexnet_lib.data.fashion_mnist`."
    )
    if download:
        try:
            FashionMNIST(root, train=True, download=True)
            return raw
        except (OSError, RuntimeError) as err:  # no network, or a corrupt download
            raise AlexNetError(f"Fashion-MNIST is not in {raw} and downloading it failed ({err}). {how}") from None
    raise AlexNetError(f"Fashion-MNIST is not in {raw}. {how}")


def load_fashion_mnist(root: str | Path | None = None, train: bool = True) -> ImageArrays:
    """Paper §3.1 and §3.3, smoke profile: Fashion-MNIST as N×1×28×28 uint8 (60,000 train or 10,000 test).

    ``root`` defaults to ``data_root()``; the files are prepared by `ensure_fashion_mnist` first.
    """
    root = Path(root) if root is not None else data_root()
    ensure_fashion_mnist(root)
    dataset = FashionMNIST(root, train=train, download=False)
    return ImageArrays(
        images=dataset.data.unsqueeze(1).contiguous(),
        labels=dataset.targets.to(torch.int64),
        classes=list(dataset.classes),
        source="real Fashion-MNIST (Zalando Research, 2017)",
    )


def main(argv: list[str] | None = None) -> None:
    """Paper §3.1 and §3.3, smoke profile: the command line that prepares Fashion-MNIST."""
    parser = argparse.ArgumentParser(description="Prepare the real Fashion-MNIST under the data root.")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $ALEXNET_DATA or data/)")
    args = parser.parse_args(argv)
    try:
        raw = ensure_fashion_mnist(args.root)
        train, test = load_fashion_mnist(args.root, train=True), load_fashion_mnist(args.root, train=False)
    except AlexNetError as err:
        sys.exit(f"error: {err}")
    _, _, height, width = train.images.shape
    print(
        f"Fashion-MNIST ready in {raw}: {len(train):,} train + {len(test):,} test images, "
        f"{height}×{width} greyscale, {len(train.classes)} classes"
    )


if __name__ == "__main__":
    main()
