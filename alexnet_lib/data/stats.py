"""Paper §2 and §4.1: statistics of the training set that the network's input depends on.

The per-pixel mean image (§2, subtracted from every input) and the RGB covariance with its
principal components (§4.1, PCA lighting), each computed in one streamed pass, and `DatasetStats`
to keep them on disk so that a training run computes them once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch.utils.data import DataLoader
from torchvision.transforms import Compose
from tqdm.auto import tqdm

from ..errors import AlexNetError
from ..preprocess import paper_preprocess, to_uint8_tensor
from .imagenet import imagenet_folder


def _uint8_batches(images: Iterable, size: int | None = None) -> Iterator[torch.Tensor]:
    """Each item of ``images`` as an N×3×H×W uint8 batch (H = W = ``size`` when given).

    Items are 3×H×W images or N×3×H×W batches, bare or as the first element of (image, label)
    pairs, so a dataset or a DataLoader can be passed as is.
    """
    for item in images:
        x = item[0] if isinstance(item, (tuple, list)) else item
        batch = x.unsqueeze(0) if x.dim() == 3 else x
        size_ok = size is None or batch.shape[2:] == (size, size)
        if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[1] != 3 or not size_ok:
            expected = f"3×{size}×{size}" if size is not None else "3×H×W"
            raise ValueError(f"expected uint8 images {expected}, got {batch.dtype} {tuple(x.shape)}")
        yield batch


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
    for batch in _uint8_batches(images, size):
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
    loader = _paper_loader(root, split, size, batch_size, num_workers)
    return mean_image(tqdm(loader, desc=f"mean image of {split}", unit="batch"), size)


def _paper_loader(root: str | Path, split: str, size: int, batch_size: int, num_workers: int) -> DataLoader:
    """Batches of (uint8 N×3×size×size images, labels) of a split, each image as §2 prescribes."""
    to_tensor = Compose([partial(paper_preprocess, size=size), to_uint8_tensor])
    dataset = imagenet_folder(root, split, transform=to_tensor)
    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)


class _RGBMoments:
    """Running count, sum of x and sum of x xᵀ over RGB pixel vectors x, in float64.

    Exact, not merely accurate: every term is an integer, and float64 holds integers exactly up to
    2**53 ≈ 9.0e15. ILSVRC-2012's 1.28M training images at 256×256 have 8.4e10 pixels, so the
    largest sum, of squares, stays below 8.4e10 × 255² ≈ 5.5e15.
    """

    def __init__(self) -> None:
        self.count = 0
        self.sum = torch.zeros(3, dtype=torch.float64)
        self.sum_outer = torch.zeros(3, 3, dtype=torch.float64)

    def add(self, batch: torch.Tensor) -> None:
        x = batch.transpose(0, 1).reshape(3, -1).double()  # 3 × (pixels of the batch)
        self.count += x.shape[1]
        self.sum += x.sum(1).cpu()
        self.sum_outer += (x @ x.T).cpu()

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count < 2:
            raise ValueError("rgb_covariance needs at least two pixels")
        mean = self.sum / self.count
        covariance = (self.sum_outer - torch.outer(self.sum, self.sum) / self.count) / (self.count - 1)
        return mean, covariance


def rgb_covariance(images: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §4.1: the mean RGB value and the 3×3 covariance of RGB values over all pixels of all images.

    "We perform PCA on the set of RGB pixel values throughout the ImageNet training set." Every
    pixel of every image is one sample of a 3-vector; pixel values are 0..255. ``images`` yields
    uint8 images or batches (any H×W), bare or in (image, label) pairs, like `mean_image`: e.g. an
    ``imagenet_folder`` with ``transform=to_uint8_tensor`` or a DataLoader over it. One streamed pass;
    its sums are float64 and exact. The covariance divides by count - 1, as ``np.cov`` does.
    Returns (mean, covariance), float64.
    """
    moments = _RGBMoments()
    for batch in _uint8_batches(images):
        moments.add(batch)
    return moments.mean_and_covariance()


def rgb_eigen(covariance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §4.1: eigenvalues λ1 ≥ λ2 ≥ λ3 and eigenvectors p1, p2, p3 (columns) of the RGB covariance.

    ``covariance = p @ diag(λ) @ pᵀ``. An eigenvector's sign is arbitrary (PCA lighting draws α from
    a symmetric distribution, so it does not care); we make each one's largest component positive.
    """
    if covariance.shape != (3, 3):
        raise ValueError(f"expected a 3×3 RGB covariance, got shape {tuple(covariance.shape)}")
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    largest = eigenvectors.gather(0, eigenvectors.abs().argmax(0, keepdim=True))
    return eigenvalues, eigenvectors * largest.sign()


@dataclass(eq=False)
class DatasetStats:
    """Paper §2 and §4.1: what a training set lends its network's input, computed once and saved.

    ``mean_image`` (3×S×S float32) is subtracted from every input; ``rgb_mean`` (3) and
    ``rgb_covariance`` (3×3), float64 over all pixels on 0..255, give the principal components of
    PCA lighting, ``eigenvalues`` and ``eigenvectors`` (`rgb_eigen`). ``num_images`` says how many
    images they summarise.
    """

    mean_image: torch.Tensor
    rgb_mean: torch.Tensor
    rgb_covariance: torch.Tensor
    num_images: int

    @property
    def eigenvalues(self) -> torch.Tensor:
        return rgb_eigen(self.rgb_covariance)[0]

    @property
    def eigenvectors(self) -> torch.Tensor:
        return rgb_eigen(self.rgb_covariance)[1]

    def save(self, path: str | Path) -> None:
        """Write to ``path`` (torch.save) atomically: to ``path.partial``, then renamed, so that a
        killed run leaves either the old file or the new one, never half of one."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_path = path.with_name(path.name + ".partial")
        torch.save(vars(self), partial_path)
        os.replace(partial_path, path)

    @classmethod
    def load(cls, path: str | Path) -> DatasetStats:
        """Read what `save` wrote."""
        path = Path(path)
        if not path.is_file():
            raise AlexNetError(
                f"No dataset statistics at {path}: compute them once with "
                "alexnet_lib.data.stats.compute_dataset_stats(root).save(path)."
            )
        return cls(**torch.load(path, weights_only=True))


def compute_dataset_stats(
    root: str | Path, split: str = "train", size: int = 256, batch_size: int = 64, num_workers: int = 0
) -> DatasetStats:
    """Paper §2 and §4.1: the mean image and the RGB covariance of an ImageNet-layout split, in one pass.

    Each image is rescaled and centre-cropped to ``size`` (§2) and decoded once for both statistics
    (decoding dominates: hours for ILSVRC-2012's 1.28M JPEGs; ``num_workers`` > 0 decodes in parallel).
    """
    loader = _paper_loader(root, split, size, batch_size, num_workers)
    moments = _RGBMoments()

    def counted(batches):  # feeds each batch to the RGB moments on its way to mean_image
        for batch in _uint8_batches(batches, size):
            moments.add(batch)
            yield batch

    progress = tqdm(loader, desc=f"mean image + RGB covariance of {split}", unit="batch")
    mean = mean_image(counted(progress), size)
    rgb_mean, covariance = moments.mean_and_covariance()
    return DatasetStats(mean, rgb_mean, covariance, num_images=moments.count // (size * size))
