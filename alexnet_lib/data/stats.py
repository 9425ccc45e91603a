"""Paper §2: statistics of the training set that the network's input depends on (the mean image)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Iterable

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import Compose
from tqdm.auto import tqdm

from ..preprocess import paper_preprocess, to_uint8_tensor
from .imagenet import imagenet_folder


def mean_image(images: Iterable, size: int = 256) -> torch.Tensor:
    """Paper §2: the per-pixel mean over the training set, a 3×size×size float32 tensor.

    "We did not pre-process the images in any other way, except for subtracting the mean activity
    over the training set from each pixel." ``images`` yields uint8 3×size×size images or
    N×3×size×size batches, bare or as the first element of (image, label) pairs, so a dataset or a
    DataLoader can be passed as is. One pass, constant memory; the running sum is float64, since
    float32 stops counting exactly past 2**24 and ImageNet's sums reach 255 × 1.28M ≈ 3.3e8.
    """
    total = torch.zeros(3, size, size, dtype=torch.float64)
    count = 0
    for item in images:
        x = item[0] if isinstance(item, (tuple, list)) else item
        batch = x.unsqueeze(0) if x.dim() == 3 else x
        if batch.dtype != torch.uint8 or batch.shape[1:] != total.shape:
            raise ValueError(f"expected uint8 images 3×{size}×{size}, got {batch.dtype} {tuple(x.shape)}")
        total += batch.sum(0, dtype=torch.float64)
        count += len(batch)
    if count == 0:
        raise ValueError("mean_image got no images")
    return (total / count).float()


def compute_mean_image(
    root: str | Path, split: str = "train", size: int = 256, batch_size: int = 64, num_workers: int = 0
) -> torch.Tensor:
    """Paper §2: the mean image of an ImageNet-layout split, each image first rescaled and centre-cropped.

    ``num_workers`` > 0 decodes JPEGs in parallel processes (worth it for ILSVRC-2012's 1.28M images).
    """
    to_tensor = Compose([partial(paper_preprocess, size=size), to_uint8_tensor])
    dataset = imagenet_folder(root, split, transform=to_tensor)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    return mean_image(tqdm(loader, desc=f"mean image of {split}", unit="batch"), size)
