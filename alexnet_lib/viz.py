"""Paper §6.1: the qualitative figures, Figure 3 (conv1's kernels) and Figure 4 (predictions, neighbours).

* Figure 3: `kernel_grid` lays out conv1's 96 kernels, each contrast-normalised for display
  (`normalise_kernels`), in two bands of 48, one per tower (GPU); `colourfulness` turns the
  paper's "colour-agnostic vs colour-specific" into one number per kernel, `tower_colourfulness`
  into one per tower.
* Figure 4, left: `top5` and `plot_top5`, the five most probable labels of each image as bars,
  the true label's bar in red when it is among them.
* Figure 4, right: `hidden_features` reads the 4096-d last hidden layer, `nearest_neighbours`
  finds the closest training images by exact Euclidean search, batched on the device, and
  `plot_neighbours` draws them.
* `torchvision_alexnet`: torchvision's ImageNet-trained alexnet (a later variant), when its
  weights can be had, so that a reader without a 90-epoch run can see realistic figures.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .config import get_device
from .errors import AlexNetError
from .filters import per_tower


def _check_kernels(kernels: torch.Tensor) -> torch.Tensor:
    if kernels.dim() != 4 or kernels.shape[1] != 3:
        raise AlexNetError(
            f"Expected RGB kernels N×3×h×w (conv1's weight, e.g. model.features.conv1.weight), "
            f"got shape {tuple(kernels.shape)}."
        )
    return kernels.detach().float().cpu()


# ---- Figure 3 ---------------------------------------------------------------------------------


def normalise_kernels(kernels: torch.Tensor) -> torch.Tensor:
    """Paper §6.1 (Figure 3): each kernel stretched to 0..1 for display, its three colours together.

    Kernel by kernel, the smallest of its 3×h×w weights becomes 0 (black) and the largest 1 (white):
    ``(w - min) / (max - min)``. One stretch per kernel, not per colour channel, so the balance of
    R, G and B in a pixel (its hue) is kept: a weight pattern equal in all three channels shows as
    grey, a pattern that differs between channels shows in colour. A constant kernel becomes 0.5.
    Returns a float tensor shaped like ``kernels``, on the CPU.
    """
    w = _check_kernels(kernels)
    low = w.amin(dim=(1, 2, 3), keepdim=True)
    span = w.amax(dim=(1, 2, 3), keepdim=True) - low
    return torch.where(span > 0, (w - low) / span.clamp(min=1e-12), torch.full_like(w, 0.5))


def kernel_grid(
    kernels: torch.Tensor, towers: int = 2, columns: int = 16, pad: int = 1, band_gap: int = 4
) -> np.ndarray:
    """Paper §6.1 (Figure 3): the kernels as one H×W×3 image, one band of rows per tower.

    Kernel i belongs to tower ``t = i // (N / towers)`` (AlexNet's conv2 reads the first half of
    conv1's maps in one group and the second half in the other, so the halves are the two GPUs'
    kernels). Inside a band, kernel j (counted from the band's first) sits in row ``j // columns``
    and column ``j % columns``. Every kernel is framed by ``pad`` white pixels on each side, and
    the bands are ``band_gap`` extra white rows apart. For AlexNet's 96 kernels of 11×11: two
    bands of 3 rows × 16 columns, as in the paper's figure. Kernels are contrast-normalised first
    (`normalise_kernels`). Returns float values in 0..1.
    """
    w = normalise_kernels(kernels)
    n, _, h, wd = w.shape
    if n % towers:
        raise AlexNetError(f"{n} kernels do not split evenly into {towers} towers.")
    per_tower = n // towers
    rows = -(-per_tower // columns)  # ceil
    cell_h, cell_w = h + 2 * pad, wd + 2 * pad
    band_h = rows * cell_h
    grid = np.ones((towers * band_h + (towers - 1) * band_gap, columns * cell_w, 3), dtype=np.float32)
    for i in range(n):
        t, j = divmod(i, per_tower)
        top = t * (band_h + band_gap) + (j // columns) * cell_h + pad
        left = (j % columns) * cell_w + pad
        grid[top:top + h, left:left + wd] = w[i].permute(1, 2, 0).numpy()
    return grid


def colourfulness(kernels: torch.Tensor) -> torch.Tensor:
    """Paper §6.1 (Figure 3): the share of each kernel's energy that lies in colour, 0..1.

    At every pixel a kernel holds three weights (r, g, b). Split that vector into its *grey* part,
    the projection onto the grey direction R = G = B, which is (m, m, m) with m = (r + g + b) / 3,
    and its *colour* part (r - m, g - m, b - m), which sums to zero. The grey part responds to
    brightness whatever the hue; the colour part to differences between the channels. Then::

        colourfulness = sum over pixels of |colour part|²  /  sum over weights of (w - mean(w))²

    The kernel's overall mean (a constant grey offset, the same for all 3×h×w weights) is removed
    first so that it counts for neither. A kernel with R = G = B everywhere scores 0; one whose
    channels cancel at every pixel (e.g. red minus green) scores 1. A kernel of random, independent
    weights (an untrained net's) scores about 2/3: two of the three directions of colour space are
    "colour". So 2/3 is the baseline: colour-agnostic kernels score well below it, colour-specific
    ones above. Returns one value per kernel (a float64 tensor of length N; 0 for a constant kernel).
    """
    w = _check_kernels(kernels).double().flatten(2)  # N×3×pixels
    colour = w - w.mean(dim=1, keepdim=True)  # minus the grey part at each pixel
    total = (w - w.mean(dim=(1, 2), keepdim=True)).square().sum(dim=(1, 2))
    share = colour.square().sum(dim=(1, 2)) / total.clamp(min=1e-300)
    return torch.where(total > 0, share, torch.zeros_like(share))


def tower_colourfulness(kernels: torch.Tensor, towers: int = 2) -> list[float]:
    """Paper §6.1 (Figure 3): the mean `colourfulness` of each tower's kernels, tower 1 first.

    The paper: GPU 1's kernels are "largely color-agnostic", GPU 2's "largely color-specific".
    """
    return per_tower(colourfulness(kernels), towers)


# ---- Figure 4, left -------------------------------------------------------------------------------


def top5(probs: torch.Tensor, label: int, class_names: Sequence[str], k: int = 5) -> list[tuple[str, float, bool]]:
    """Paper §6.1 (Figure 4, left): the ``k`` most probable classes of one image, most probable first.

    ``probs`` holds one image's class probabilities. Returns ``(name, probability, is_true)``
    triples; ``is_true`` marks the correct label, whose bar the paper draws in red. Ties are broken
    by class index, the lower first (a stable sort), so the order is always the same.
    """
    probs = probs.detach().float().cpu().flatten()
    k = min(k, len(probs))
    order = torch.sort(probs, descending=True, stable=True).indices[:k]
    return [(class_names[i], float(probs[i]), i == label) for i in order.tolist()]


def _hwc(image: torch.Tensor) -> np.ndarray:
    """A 3×H×W (or 1×H×W) image, uint8 or float in 0..1, as an H×W×3 array for imshow."""
    x = image.detach().cpu()
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float().clamp(0, 1)
    return x.expand(3, *x.shape[1:]).permute(1, 2, 0).numpy()


def plot_top5(
    images: torch.Tensor,
    probs: torch.Tensor,
    labels: Sequence[int] | None,
    class_names: Sequence[str],
    columns: int = 4,
    title: str | None = None,
) -> plt.Figure:
    """Paper §6.1 (Figure 4, left): each image with its top-5 labels as probability bars.

    Under each image: its correct label, then five horizontal bars, the most probable on top, each
    with its class name; the bar of the correct label is red when it is among the five, the others
    blue. ``images`` is N×3×H×W (uint8, or float in 0..1), ``probs`` N×classes (rows of a softmax).
    ``labels=None``: images without a known label (no name under them, no red bar).
    """
    n = len(images)
    rows = -(-n // columns)
    fig, axes = plt.subplots(2 * rows, columns, figsize=(2.0 * columns, 3.2 * rows),
                             gridspec_kw=dict(height_ratios=[1.4, 1] * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, columns)
        ax_img, ax_bar = axes[2 * r, c], axes[2 * r + 1, c]
        ax_img.imshow(_hwc(images[i]))
        label = -1 if labels is None else int(labels[i])
        if label >= 0:
            ax_img.set_title(class_names[label], fontsize=9, y=-0.16)
        rows_k = top5(probs[i], label, class_names)
        y = np.arange(len(rows_k))[::-1]
        ax_bar.axis("on")
        ax_bar.barh(y, [p for _, p, _ in rows_k], color=["tab:red" if t else "tab:blue" for *_, t in rows_k])
        for yy, (name, _, _) in zip(y, rows_k):
            ax_bar.text(0.02, yy, name, va="center", fontsize=7)
        ax_bar.set_xlim(0, 1)
        ax_bar.set_yticks([])
        ax_bar.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---- Figure 4, right ------------------------------------------------------------------------------


def hidden_features(
    model: nn.Module,
    images: torch.Tensor,
    layer: str = "classifier.relu7",
    batch_size: int = 64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Paper §6.1 (Figure 4, right): the activations of ``layer`` for each image, N×features on the CPU.

    By default AlexNet's last hidden layer, the 4096 outputs of fc7 after its ReLU, which the paper
    compares between images. A forward hook on the named submodule keeps its output while the
    model runs in eval mode under `torch.no_grad`, ``batch_size`` images at a time, on ``device``
    (default `get_device()`); the model's train/eval mode is restored afterwards. ``images`` are the
    network's inputs (N×3×224×224, mean subtracted), on any device.
    """
    device = torch.device(device) if device is not None else get_device()
    try:
        target = model.get_submodule(layer)
    except AttributeError:
        raise AlexNetError(
            f"The model has no layer {layer!r}: name one of {[n for n, _ in model.named_modules() if n]}."
        ) from None
    kept: list[torch.Tensor] = []
    handle = target.register_forward_hook(
        lambda module, inputs, output: kept.append(output.flatten(1).float().cpu()))
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            for first in range(0, len(images), batch_size):
                model(images[first:first + batch_size].to(device))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(kept)


def nearest_neighbours(
    query: torch.Tensor,
    bank: torch.Tensor,
    k: int = 6,
    chunk_size: int = 65536,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §6.1 (Figure 4, right): the ``k`` rows of ``bank`` closest to each row of ``query``.

    Exact (every bank row is compared, nothing approximate) Euclidean search, batched on
    ``device`` (default `get_device()`): the bank, which for ImageNet is 1.2M × 4096 values (20 GB
    in float32) and need not fit on the device, is moved there ``chunk_size`` rows at a time. Per
    chunk, all squared distances at once, with one matrix product::

        |q - b|² = |q|² - 2 q·b + |b|²

    then the best ``k`` so far are kept. Ties are broken by bank index, the lower first (the
    running best, all from earlier chunks, goes before the new chunk in a stable sort), so the
    answer never depends on ``chunk_size``. Distances are computed in the query's dtype (float32
    for an integer query, e.g. uint8 pixels; the bank is converted chunk by chunk). The expanded
    form loses precision when two vectors are much closer than they are long: pass float64 for a
    check. Memory: Q × ``chunk_size`` distances at a time, so pass many queries in slices.
    Returns ``(distances, indices)``, both Q×k on the CPU, nearest first.
    """
    if query.dim() != 2 or bank.dim() != 2 or query.shape[1] != bank.shape[1]:
        raise AlexNetError(
            f"Expected query Q×D and bank N×D with the same D, got {tuple(query.shape)} and {tuple(bank.shape)}."
        )
    if not 1 <= k <= len(bank):
        raise AlexNetError(
            f"Cannot find k={k} neighbours among {len(bank)} bank rows: choose 1 <= k <= {len(bank)}."
        )
    device = torch.device(device) if device is not None else get_device()
    q = query.to(device, query.dtype if query.is_floating_point() else torch.float32)
    q_sq = q.square().sum(1, keepdim=True)  # Q×1
    best_d = torch.empty(len(q), 0, dtype=q.dtype, device=device)
    best_i = torch.empty(len(q), 0, dtype=torch.long, device=device)
    for first in range(0, len(bank), chunk_size):
        b = bank[first:first + chunk_size].to(device, q.dtype)
        d2 = (q_sq - 2 * q @ b.T + b.square().sum(1)).clamp(min=0)  # Q×chunk
        index = torch.arange(first, first + len(b), device=device).expand(len(q), -1)
        d2, index = torch.cat([best_d, d2], 1), torch.cat([best_i, index], 1)
        order = torch.sort(d2, dim=1, stable=True).indices[:, :k]
        best_d, best_i = d2.gather(1, order), index.gather(1, order)
    return best_d.sqrt().cpu(), best_i.cpu()


def plot_neighbours(
    queries: torch.Tensor,
    bank_images: torch.Tensor,
    indices: torch.Tensor,
    captions: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
) -> plt.Figure:
    """Paper §6.1 (Figure 4, right): each query image (first column) and its nearest bank images.

    ``queries`` Q×3×H×W, ``bank_images`` N×3×H×W (uint8, or float in 0..1), ``indices`` Q×k from
    `nearest_neighbours`. ``captions[q][j]`` (optional) is written under column j of row q
    (column 0 is the query).
    """
    n_q, k = indices.shape
    fig, axes = plt.subplots(n_q, k + 1, figsize=(1.2 * (k + 1), 1.3 * n_q), squeeze=False)
    for q in range(n_q):
        row = [queries[q], *(bank_images[i] for i in indices[q].tolist())]
        for j, (ax, image) in enumerate(zip(axes[q], row)):
            ax.imshow(_hwc(image))
            ax.set_xticks([]), ax.set_yticks([])
            if captions is not None:
                ax.set_xlabel(captions[q][j], fontsize=7, labelpad=1)
            if j == 0:
                for side in ax.spines.values():
                    side.set(color="black", linewidth=2)
    axes[0, 0].set_title("query", fontsize=8)
    for j in range(1, k + 1):
        axes[0, j].set_title(f"#{j}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---- Realistic figures without a 90-epoch run --------------------------------------------------


def torchvision_alexnet(timeout: float = 5.0) -> tuple[nn.Module, list[str], nn.Module]:
    """Paper §6.1: torchvision's ImageNet-trained ``alexnet`` in eval mode, its 1000 class names and
    the preprocessing its weights expect (a PIL image in, a normalised 3×224×224 tensor out).

    Not the paper's net: the "one weird trick" variant (Krizhevsky, 2014) that torchvision ships has
    64, 192, 384, 256, 256 kernels in conv1..conv5, no LRN, no towers, and 56.5% / 79.1% top-1 /
    top-5 accuracy on ILSVRC-2012 val. It loads from torch's hub cache, or is downloaded once
    (233 MB) when the machine is online; otherwise `AlexNetError` says so, after at most
    ``timeout`` seconds of trying to reach the server.
    """
    from torchvision.models import AlexNet_Weights, alexnet

    weights = AlexNet_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file():
        try:
            urllib.request.urlopen(urllib.request.Request(weights.url, method="HEAD"), timeout=timeout).close()
        except OSError:
            raise AlexNetError(
                f"torchvision's pretrained AlexNet weights are not cached and {weights.url} cannot be "
                "reached: offline, so this page shows the book's own checkpoint only. Online, rerun "
                "the cell: the weights download once (233 MB)."
            ) from None
    return alexnet(weights=weights, progress=False).eval(), list(weights.meta["categories"]), weights.transforms()
