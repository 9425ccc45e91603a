"""Layers the paper introduces that PyTorch does not provide as written (§3.3)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

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

    ``groups`` splits the C channels into that many equal blocks and normalises within each block:
    a window never crosses a block boundary, it is clipped there as at channels 0 and N - 1. The
    2012 code normalised this way, within each GPU's tower (48 conv1 maps, 128 conv2 maps):
    ``groups=2``. ``groups=1`` (default) is the formula as written, across all N maps.

    ``size`` must be odd: only then is the window of n maps centred on channel i.

    Speed: the forward pass is the formula; the backward pass is its derivative written out by hand
    (see `_LRNFunction`), which makes fewer passes over memory than autograd would. On a 2-core
    CPU a forward + backward is about 4x faster than `torch.nn.LocalResponseNorm` with the same
    numbers, and LRN's share of an AlexNet training step falls from 41% to 11%
    (``benchmarks/lrn.py``). On CUDA, ``fused=True`` (default) runs the same formula as one Triton
    kernel per pass (`alexnet_lib.lrn_triton`): on an H100, 1.7x (fp32) to 6.6x (bf16) faster than
    the reference ops, and 6% of an AlexNet training step instead of 24%. ``fused=False``,
    or a machine without Triton, keeps the reference ops.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 2.0,
        groups: int = 1,
        fused: bool = True,
    ):
        super().__init__()
        if size < 1 or size % 2 == 0:
            raise AlexNetError(
                f"LocalResponseNorm size={size}: use an odd window (the paper's is 5)."
            )
        if groups < 1:
            raise AlexNetError(f"LocalResponseNorm groups={groups}: use 1 (all maps) or more.")
        self.size, self.alpha, self.beta, self.k, self.groups = size, alpha, beta, k, groups
        self.fused = fused

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if a.dim() != 4 or a.shape[1] % self.groups:
            raise AlexNetError(
                f"LocalResponseNorm(groups={self.groups}) needs N x C x H x W input with C "
                f"divisible by {self.groups}; got shape {tuple(a.shape)}."
            )
        function = _fused_function() if self.fused and a.is_cuda else None
        return (function or _LRNFunction).apply(
            a, self.size, self.alpha, self.beta, self.k, self.groups
        )

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{groups}"


def _fused_function():
    """The Triton kernels of `alexnet_lib.lrn_triton`, or None where Triton is not installed."""
    try:
        from .lrn_triton import FusedLRNFunction
    except ImportError:
        return None
    return FusedLRNFunction


def _window_sums(x: torch.Tensor, size: int, groups: int) -> torch.Tensor:
    """Paper §3.3: for every channel i, the sum of x over channels i - size//2 .. i + size//2.

    The window stops at the ends of i's block of C / groups channels (with ``groups=1``: at
    channels 0 and C - 1), exactly as the limits max(0, .) and min(N - 1, .) of the formula do.
    """
    n, c, h, w = x.shape
    half = size // 2
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        # channels_last (the layout `train_resident` trains in): the channels are the innermost
        # axis in memory. View x as N x H x W x blocks x C/blocks and add each block to itself
        # shifted by 1 .. size//2 channels either way; a shift that runs off the block's end adds
        # nothing, which is the clipping. The result stays channels_last. (The NCHW path below
        # would read the channels with a stride and return NCHW: 2-3x slower on such input.)
        m = c // groups
        blocks = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, m)
        sums = blocks.clone()
        for d in range(1, min(half, m - 1) + 1):
            sums[..., d:] += blocks[..., :m - d]
            sums[..., :m - d] += blocks[..., d:]
        return sums.reshape(n, h, w, c).permute(0, 3, 1, 2)
    blocks = x.reshape(n * groups, c // groups, h, w)  # each block becomes its own "image"
    # Zero channels before and after each block clip the window; unfold puts, for every channel,
    # its window of `size` neighbours in a new last axis.
    padded = F.pad(blocks, (0, 0, 0, 0, half, half))
    return padded.unfold(1, size, 1).sum(-1).reshape(n, c, h, w)


class _LRNFunction(torch.autograd.Function):
    """Paper §3.3: b = a * scale ** -beta, scale = k + alpha * (window sums of a ** 2), by hand.

    The forward pass is the formula; the backward pass is its derivative, written out.

    Differentiating b[i] = a[i] * scale[i] ** -beta by a[j]::

        db[i]/da[j] = [i == j] * scale[i] ** -beta
                      - 2 * alpha * beta * a[i] * a[j] * scale[i] ** (-beta - 1) * [j in window(i)]

    and a[i] * scale[i] ** (-beta - 1) is b[i] / scale[i]. Windows are symmetric (j is in i's
    window exactly when i is in j's), so the gradient the loss sends to a[j] is again a window sum,
    computed with the same `_window_sums`::

        grad_a[j] = g[j] * scale[j] ** -beta
                    - 2 * alpha * beta * a[j] * _window_sums(g * b / scale)[j]

    The forward pass saves scale ** -beta and b / scale for it. cuda-convnet and Caffe wrote this
    gradient by hand too.

    Half-precision input (bf16 under autocast) is computed in float32 and rounded once at the end,
    as autocast itself runs ``pow`` and sums in float32: a bf16 sum of squares keeps 8 bits. This
    halves the largest error against the float32 formula (64 x 96 x 55 x 55 ReLU outputs of scale
    3: output 0.04 instead of 0.08, gradient 0.008 instead of 0.026) at about the same speed.
    """

    @staticmethod
    def forward(ctx, a, size, alpha, beta, k, groups):
        x = a.to(torch.promote_types(a.dtype, torch.float32))  # a itself unless a is bf16/fp16
        scale = _window_sums(x * x, size, groups).mul_(alpha).add_(k)
        # The paper's beta = 3/4: scale ** -0.75 = 1 / sqrt(scale * sqrt(scale)), two square roots
        # instead of a general power (1.8x faster on a CPU; equal to within a rounding).
        scale_pow = scale.sqrt().mul_(scale).rsqrt_() if beta == 0.75 else scale.pow(-beta)
        b = x * scale_pow
        ctx.save_for_backward(a, scale_pow, b / scale)
        ctx.constants = size, alpha, beta, groups
        return b.to(a.dtype)

    @staticmethod
    @once_differentiable  # a second derivative through this backward would be wrong: refuse it
    def backward(ctx, grad_b):
        a, scale_pow, b_over_scale = ctx.saved_tensors
        size, alpha, beta, groups = ctx.constants
        g = grad_b.to(scale_pow.dtype)
        through_scale = _window_sums(g * b_over_scale, size, groups)  # through the sums
        # g * scale ** -beta (through the numerator a[j]) - 2 * alpha * beta * a * through_scale
        grad_a = (g * scale_pow).addcmul_(through_scale, a, value=-2 * alpha * beta)
        return grad_a.to(a.dtype), None, None, None, None, None
