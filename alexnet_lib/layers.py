"""Layers the paper introduces that PyTorch does not provide as written (§3.3)."""

from __future__ import annotations

import torch
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
    (see `_LRNFunction`), which makes fewer passes over memory than autograd would, and the window
    sums take four passes, the products included (`window_sums`). On a 2-core CPU a forward +
    backward is about 6x faster than `torch.nn.LocalResponseNorm` with the same numbers, and LRN's
    share of an AlexNet training step falls from about 40% to a few percent (``benchmarks/lrn.py``).
    On CUDA, ``fused=True`` (default) runs the same formula as one Triton kernel per pass
    (`alexnet_lib.lrn_triton`): on an H100, 1.7x (fp32) to 6.6x (bf16) faster than the reference
    ops, and 6% of an AlexNet training step instead of 24%. On the CPU in bf16 (``--bf16``) it runs
    the formula and derivative as compiled loops (`alexnet_lib.lrn_compiled`): a forward + backward
    4x faster than the reference ops, and the paper net's bf16 step 0.90x torchvision's instead of
    0.73x (benchmarks/README.md). ``fused=False``, or a machine without Triton, keeps the reference
    ops.
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
        function = _fused_function(a) if self.fused else None
        return (function or _LRNFunction).apply(
            a, self.size, self.alpha, self.beta, self.k, self.groups
        )

    def extra_repr(self) -> str:
        groups = f", groups={self.groups}" if self.groups != 1 else ""
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}{groups}"


def competing(a: torch.Tensor, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
              margin: float = 0.01) -> torch.Tensor:
    """Paper §3.3's "competition", measured: True for each unit of ``a`` (N x C x H x W, after the
    ReLU) whose denominator (k + alpha * sum a[j]^2) ** beta exceeds a quiet window's k ** beta by
    more than ``margin``. Where it is False, LRN only multiplies by the constant k ** -beta."""
    return (1 + alpha * window_sums(a, a, size, 1) / k) ** beta > 1 + margin


def _fused_function(a: torch.Tensor):
    """The fast path for ``a``: on CUDA the Triton kernels of `alexnet_lib.lrn_triton` (None where
    Triton is not installed); on the CPU in bf16 or fp16 the compiled loops of
    `alexnet_lib.lrn_compiled`; else None (the reference ops)."""
    if a.is_cuda:
        try:
            from .lrn_triton import FusedLRNFunction
        except ImportError:
            return None
        return FusedLRNFunction
    if a.device.type == "cpu" and a.dtype in (torch.bfloat16, torch.float16):
        from .lrn_compiled import CompiledLRNFunction

        return CompiledLRNFunction
    return None


def window_sums(
    u: torch.Tensor, v: torch.Tensor, size: int, groups: int, alpha: float = 1.0, k: float = 0.0
) -> torch.Tensor:
    """Paper §3.3: for every channel i, k + alpha * (sum of u * v over channels i - n/2 .. i + n/2).

    With u = v = a this is the formula's scale[i], the base of its denominator; the backward pass
    sums another product over the same windows. The window of n = ``size`` channels stops at the
    ends of i's block of C / groups channels (with ``groups=1``: at channels 0 and C - 1), exactly
    as the limits max(0, .) and min(N - 1, .) of the formula do. u and v are N x C x H x W; the
    result keeps their memory layout (NCHW, or channels_last as the trainer uses).

    How, in four passes over memory for n = 5 (the products, five shifted copies added up, then k
    and alpha took eight): one pass writes each block's channels into a buffer with n//2 extra
    channels at either end; every channel holds k/n + alpha * u * v, every extra one k/n. Each
    window then has exactly n entries and sums to k + alpha * sum(u * v), clipped as the formula
    is. One pass adds every pair of neighbours; a window of 5 is two such pairs and its last entry.
    """
    n, c, h, w = u.shape
    m, half, share = c // groups, size // 2, k / size
    if u.is_contiguous(memory_format=torch.channels_last) and not u.is_contiguous():
        # channels_last: the channels are the innermost axis in memory, and stay so
        axis, blocks = 4, [t.permute(0, 2, 3, 1).reshape(n, h, w, groups, m) for t in (u, v)]
    else:
        axis, blocks = 2, [t.reshape(n, groups, m, h, w) for t in (u, v)]
    shape = list(blocks[0].shape)
    shape[axis] = length = m + 2 * half
    padded = u.new_empty(shape)
    padded.narrow(axis, 0, half).fill_(share)  # the extra channels before each block
    padded.narrow(axis, m + half, half).fill_(share)  # and after it
    torch.addcmul(torch.tensor(share, dtype=u.dtype), *blocks, value=alpha,
                  out=padded.narrow(axis, half, m))
    sums = padded.narrow(axis, size - 1, m)  # the last entry of every window
    if size > 1:
        pairs = padded.narrow(axis, 0, length - 1) + padded.narrow(axis, 1, length - 1)
        sums = pairs.narrow(axis, 0, m) + sums
        for first in range(2, size - 1, 2):
            sums += pairs.narrow(axis, first, m)
    if axis == 4:
        return sums.reshape(n, h, w, c).permute(0, 3, 1, 2)
    return sums.reshape(n, c, h, w)


class _LRNFunction(torch.autograd.Function):
    """Paper §3.3: b = a * scale ** -beta, scale = k + alpha * (window sums of a ** 2), by hand.

    The forward pass is the formula; the backward pass is its derivative, written out.

    Differentiating b[i] = a[i] * scale[i] ** -beta by a[j]::

        db[i]/da[j] = [i == j] * scale[i] ** -beta
                      - 2 * alpha * beta * a[i] * a[j] * scale[i] ** (-beta - 1) * [j in window(i)]

    and a[i] * scale[i] ** (-beta - 1) is b[i] / scale[i]. Windows are symmetric (j is in i's
    window exactly when i is in j's), so the gradient the loss sends to a[j] is again a window sum,
    computed with the same `window_sums`::

        grad_a[j] = g[j] * scale[j] ** -beta
                    - 2 * alpha * beta * a[j] * (window sum of g * b / scale)[j]

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
        scale = window_sums(x, x, size, groups, alpha, k)  # k + alpha * sum of a ** 2
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
        through_scale = window_sums(g, b_over_scale, size, groups)  # through the sums
        # g * scale ** -beta (through the numerator a[j]) - 2 * alpha * beta * a * through_scale
        grad_a = (g * scale_pow).addcmul_(through_scale, a, value=-2 * alpha * beta)
        return grad_a.to(a.dtype), None, None, None, None, None
