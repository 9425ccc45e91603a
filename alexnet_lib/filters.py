"""Paper §6.1 (Figure 3): what first-layer kernels look like, in numbers.

The paper describes conv1's kernels as "frequency- and orientation-selective kernels, as well as
various colored blobs", colour-agnostic on GPU 1 and colour-specific on GPU 2. Three numbers per
kernel make that checkable (the kernels are N×C×h×w, e.g. ``model.features.conv1.weight``):

* `smoothness`: how alike neighbouring weights are, 0 for independent random weights, near 1
  for a smooth pattern (an edge, a blob);
* `orientedness`: how much of the kernel's spectral energy lies along one orientation, about
  0.06 for random weights, about 0.9 for an edge or a grating (a Gabor), 0 for a round blob;
* colourfulness (`alexnet_lib.viz.colourfulness`): the share of its energy that is colour.

`tower_split` asks whether a number differs between the two towers more than chance would make it.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .errors import AlexNetError


def _kernels(kernels) -> torch.Tensor:
    w = torch.as_tensor(kernels).detach().double().cpu()
    if w.dim() != 4:
        raise AlexNetError(f"Expected kernels N×C×h×w (a conv layer's weight), got shape {tuple(w.shape)}.")
    return w - w.mean(dim=(1, 2, 3), keepdim=True)  # a constant offset is neither smooth nor oriented


def smoothness(kernels) -> torch.Tensor:
    """The correlation between horizontally and vertically adjacent weights of each kernel.

    Over every pair of neighbouring pixels of every channel, after removing the kernel's mean:
    ``sum(a * b) / sqrt(sum(a²) * sum(b²))``. Independent random weights score about 0, a smooth
    pattern near 1, a checkerboard -1. One float64 value per kernel (0 for a constant kernel).
    """
    w = _kernels(kernels)
    pairs = [(w[..., :, :-1], w[..., :, 1:]), (w[..., :-1, :], w[..., 1:, :])]
    dot = sum((a * b).sum(dim=(1, 2, 3)) for a, b in pairs)
    norm = torch.sqrt(sum(a.square().sum(dim=(1, 2, 3)) for a, _ in pairs)
                      * sum(b.square().sum(dim=(1, 2, 3)) for _, b in pairs))
    return torch.where(norm > 0, dot / norm.clamp(min=1e-300), torch.zeros_like(dot))


def orientedness(kernels, size: int = 32) -> torch.Tensor:
    """How concentrated each kernel's spectral energy is in one orientation, 0..1.

    The power spectrum of each channel (zero-padded to ``size``×``size``), summed over channels,
    gives an energy E(f) at every spatial frequency f ≠ 0 of angle θ(f). The score is the length
    of the energy-weighted mean of the doubled angle, ``|sum E e^{2iθ}| / sum E``: the angle is
    doubled because f and -f (and θ and θ + π) are one orientation. All energy along one
    orientation (a grating) scores 1, energy spread evenly over orientations (a round blob) 0,
    random 11×11 weights about 0.06. One float64 value per kernel (0 for a constant kernel).
    """
    w = _kernels(kernels)
    if max(w.shape[-2:]) > size:
        raise AlexNetError(f"orientedness size={size} is smaller than the {tuple(w.shape[-2:])} kernels.")
    energy = torch.fft.fft2(w, s=(size, size)).abs().square().sum(dim=1)  # N×size×size
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    theta = torch.atan2(f[:, None].expand(size, size), f[None, :].expand(size, size))
    energy[:, 0, 0] = 0  # the mean (already removed, up to rounding)
    phase = torch.polar(torch.ones_like(theta), 2 * theta)
    total = energy.sum(dim=(1, 2))
    score = (energy * phase).sum(dim=(1, 2)).abs() / total.clamp(min=1e-300)
    return torch.where(total > 1e-24, score, torch.zeros_like(score))


def tower_split(scores, towers: int = 2, permutations: int = 10_000, seed: int = 0) -> dict:
    """Do the towers' kernels differ in ``scores`` (one number per kernel, tower 1's first)?

    The difference of the towers' means (last minus first), and a permutation test: the share of
    ``permutations`` random reassignments of the kernels to towers of the same sizes whose
    difference is at least as large in size (two-sided; counting the observed assignment, so
    p ≥ 1 / (permutations + 1)). A small p says the split is not chance.
    """
    s = np.asarray(scores, dtype=float)
    if towers != 2 or len(s) % 2:
        raise AlexNetError(f"tower_split compares two towers of equal size; got {len(s)} kernels, towers={towers}.")
    half = len(s) // 2
    observed = s[half:].mean() - s[:half].mean()
    rng = np.random.default_rng(seed)
    shuffled = np.array([rng.permutation(s) for _ in range(permutations)])
    diffs = shuffled[:, half:].mean(1) - shuffled[:, :half].mean(1)
    p = (1 + int((np.abs(diffs) >= abs(observed) - 1e-12).sum())) / (permutations + 1)
    return {"diff": float(observed), "p": p, "permutations": permutations}


def per_tower(scores, towers: int = 2) -> list[float]:
    """The mean of ``scores`` (one per kernel) over each tower's kernels, tower 1 first."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    if len(s) % towers:
        raise AlexNetError(f"{len(s)} kernels do not split evenly into {towers} towers.")
    return [float(v) for v in s.view(towers, -1).mean(dim=1)]


def gabor(size: int = 11, wavelength: float = 4.0, angle: float = 0.0, sigma: float = 2.0) -> torch.Tensor:
    """A grey Gabor kernel, 3×size×size: a cosine grating of ``wavelength`` pixels at ``angle``
    (radians) under a Gaussian of ``sigma``; the textbook edge detector a trained conv1 resembles."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    u = x * math.cos(angle) + y * math.sin(angle)
    g = torch.exp(-(x**2 + y**2) / (2 * sigma**2)) * torch.cos(2 * math.pi * u / wavelength)
    return g.expand(3, size, size).clone()
