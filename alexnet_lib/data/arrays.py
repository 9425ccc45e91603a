"""A small image dataset held whole in memory, as the small-net experiments use it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageArrays:
    """Paper §3.1 and §3.3 (the CIFAR-10 experiments): a whole small dataset as uint8 tensors.

    ``images`` is N×C×H×W uint8 (raw pixel values, as stored on disk), ``labels`` is N int64,
    ``classes[label]`` names a class, and ``source`` says in words where the pixels came from
    (real data or the generated stand-in), so that every page can print it.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    source: str

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be N×C×H×W uint8, got {images.dtype} {tuple(images.shape)}")
        if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
            raise ValueError(f"labels must be {len(images)} int64 values, got {labels.dtype} {tuple(labels.shape)}")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        return f"ImageArrays({n:,} images {c}×{h}×{w} uint8, {len(self.classes)} classes, {self.source!r})"
