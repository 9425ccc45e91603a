"""Layers the paper introduces that PyTorch does not provide as written (§3.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import AlexNetError


class LocalResponseNorm(nn.Module):
    """Paper §3.3: local response normalization across adjacent kernel maps, as written.

    For the activity a[i] of kernel i at one position (after the ReLU), N kernels in the layer::

        b[i] = a[i] / (k + alpha * sum_{j = max(0, i - n/2)}^{min(N - 1, i + n/2)} a[j]^2) ** beta

    The window of n channels is centred on i and clipped at the first and last channel, so the edge
    channels sum fewer squares. The paper's constants are the defaults: n = 5, alpha = 1e-4,
    beta = 0.75, k = 2. Input N x C x H x W; the sum runs over C.

    Three readings of "alpha" exist, and they differ by the factor n:

    * **The paper's formula** (this module): alpha multiplies the plain sum of squares.
    * **PyTorch and Caffe** (`torch.nn.LocalResponseNorm`): alpha multiplies the *mean* of the
      squares, i.e. alpha / n times the sum. The paper's alpha = 1e-4 is torch's alpha = 5e-4.
    * **The authors' 2012 cuda-convnet code** divided the scale by the window size, so it ran
      alpha = 1e-4 / 5 = 2e-5 in the paper's notation. ``LocalResponseNorm(alpha=2e-5)`` here
      equals ``torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2)``.

    ``size`` must be odd: only then is the window of n maps centred on channel i.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0):
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise AlexNetError(
                f"LocalResponseNorm size={size}: use an odd window (the paper's is 5)."
            )
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        half = self.size // 2
        # Zero channels before 0 and after N-1 clip the window, as max(0, .) and min(N-1, .) do.
        squares = F.pad(a.pow(2), (0, 0, 0, 0, half, half))
        # unfold gives, for every channel i, its window of `size` neighbours in a new last axis.
        window_sums = squares.unfold(1, self.size, 1).sum(-1)
        return a / (self.k + self.alpha * window_sums).pow(self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
