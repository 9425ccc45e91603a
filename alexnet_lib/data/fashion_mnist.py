"""Paper §3.1 and §3.3, smoke profile: real Fashion-MNIST, the small dataset that can be had offline.

The paper's small-net experiments use CIFAR-10, which cannot be had offline. Fashion-MNIST
(Zalando Research, 2017: 28×28 greyscale photographs of clothing, 10 classes) is the real dataset
the smoke profile uses instead: Debian ships it (``apt-get install dataset-fashion-mnist``).

It is also the book's real-image source for the real AlexNet at the paper's size (§2-§6): written
once in ImageNet's folder layout (`write_imagenet_layout`), its 60,000 + 10,000 images go through
the unchanged ``prepare -> train -> evaluate`` commands (upscaled to 256x256, §4.1's 224 crops), as
d2l trains its AlexNet. ``ALEXNET_IMAGENET=fashion-mnist`` picks it (`alexnet_lib.config`).

Command line: ``python -m alexnet_lib.data.fashion_mnist [--root DIR] [--imagenet]`` prepares it and
prints counts; ``--imagenet`` also writes the ImageNet layout.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets import FashionMNIST

from ..config import data_root
from ..errors import AlexNetError
from ..files import write_atomic
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


# The ImageNet-layout copy: one folder per class (named like a wnid, sorted in label order), PNG files
# (lossless: the exact 28x28 pixels), Caffe's synset_words.txt for the names, and SOURCE (written
# last: the copy is complete) saying what the images are.
LAYOUT_SOURCE = "real Fashion-MNIST (Zalando Research, 2017), 28x28 greyscale, in ImageNet's folder layout"
LAYOUT_SPLITS = {"train": True, "val": False}  # val: Fashion-MNIST's 10,000 test images


def layout_classes(classes: list[str]) -> list[str]:
    """The class folders of `write_imagenet_layout`: ``0-t-shirt-top`` ... ``9-ankle-boot``."""
    return [f"{i}-" + re.sub(r"[^a-z0-9]+", "-", name.lower()) for i, name in enumerate(classes)]


def write_imagenet_layout(out: str | Path, root: str | Path | None = None, per_class: int | None = None) -> Path:
    """Paper §2: Fashion-MNIST written as an ImageNet-layout root, ``out/{train,val}/<class>/<n>.png``.

    Every training image and every test image (as ``val``), or the first ``per_class`` of each
    class in each split (a small copy, for tests and the dry run; ``SOURCE`` says so). Seconds; run
    again on a complete copy, it does nothing. Returns ``out``. `alexnet_lib.data.prepare` then makes the paper's 256x256 store of it.
    """
    out = Path(out)
    marker = out / "SOURCE"
    if marker.is_file():
        return out
    for split, train in LAYOUT_SPLITS.items():
        data = load_fashion_mnist(root, train=train)
        folders = [out / split / name for name in layout_classes(data.classes)]
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        seen = np.zeros(len(folders), dtype=np.int64)
        for n, (image, label) in enumerate(zip(data.images[:, 0].numpy(), data.labels.tolist())):
            if per_class is not None and seen[label] >= per_class:
                continue
            seen[label] += 1
            Image.fromarray(image).save(folders[label] / f"{split}_{n:05d}.png", optimize=False)
    words = "".join(f"{folder} {name}\n" for folder, name in zip(layout_classes(data.classes), data.classes))
    (out / "synset_words.txt").write_text(words)
    subset = f" (the first {per_class} of each class in each split)" if per_class is not None else ""
    write_atomic(marker, lambda f: f.write(LAYOUT_SOURCE + subset + "\n"), mode="w")
    return out


def main(argv: list[str] | None = None) -> None:
    """Paper §3.1 and §3.3, smoke profile: the command line that prepares Fashion-MNIST."""
    parser = argparse.ArgumentParser(description="Prepare the real Fashion-MNIST under the data root.")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $ALEXNET_DATA or data/)")
    parser.add_argument("--imagenet", action="store_true",
                        help="also write it in ImageNet's folder layout under <root>/fashion-mnist/imagenet")
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
    if args.imagenet:
        layout = write_imagenet_layout((args.root or data_root()) / "fashion-mnist" / "imagenet", args.root)
        print(f"ImageNet layout in {layout}: prepare it with ALEXNET_IMAGENET=fashion-mnist "
              "python -m alexnet_lib.data.prepare")


if __name__ == "__main__":
    main()
