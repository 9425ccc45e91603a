"""Paper §3.3: local response normalization in bf16 on a CPU, its formula and derivative compiled.

The fast path of `alexnet_lib.layers.LocalResponseNorm` for bf16 (or fp16) input on the CPU, as
under ``--bf16`` autocast. The reference path (`layers._LRNFunction`) turns the input into float32
and makes a dozen passes over float32 temporaries; once bf16 halves the cost of the convolutions,
those passes are a third of a training step. Here ``torch.compile`` (its C++ code generator) turns
the same formula into loops that read the bf16 input once and write the bf16 output once:

    forward:  s[i] = k + alpha * sum_{j in window(i)} a[j]^2,   b[i] = a[i] * s[i] ** -beta
    backward: grad_a[j] = g[j] * s[j] ** -beta
                          - 2 * alpha * beta * a[j] * sum_{i in window(j)} g[i] * a[i] * s[i] ** (-beta - 1)

(the derivative written out in `layers._LRNFunction`). Only the input is kept for the backward,
which computes ``s`` again: cheaper than writing and reading it back. Arithmetic is in float32 and
each output is rounded to the input's dtype once, as on the reference path.

Layout: the maps are taken channels_last and viewed as rows of one tower's C / groups channels
(one row per image, position and tower), so that a window is a few neighbouring elements of a row
and the compiled loops run, and vectorise, along it; windows stop at the ends of a row.

It needs a C++ compiler when a shape is first seen (seconds). Where compiling fails, the layer
says so once and runs the same functions uncompiled. ``benchmarks/lrn.py`` and
``benchmarks/train_step.py --bf16`` measure it; tests/test_layers.py checks it against the float64
formula.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable


def _window_sum(rows: torch.Tensor, size: int) -> torch.Tensor:
    """For each element of ``rows`` (R x M, float32), the sum of the ``size`` elements of its row
    centred on it, the window clipped at the row's ends (the formula's max(0, .) and min(N - 1, .))."""
    m, half = rows.shape[1], size // 2
    padded = F.pad(rows, (half, half))
    sums = padded[:, 0:m]
    for first in range(1, size):
        sums = sums + padded[:, first:first + m]
    return sums


def _scale_pow(x: torch.Tensor, size: int, alpha: float, beta: float, k: float):
    """s = k + alpha * (window sums of x^2), and s ** -beta (for the paper's 3/4 as two square roots,
    which vectorise, where a general power does not)."""
    scale = k + alpha * _window_sum(x * x, size)
    return scale, (torch.rsqrt(scale * torch.sqrt(scale)) if beta == 0.75 else scale.pow(-beta))


def _forward(a: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    x = a.float()
    _, scale_pow = _scale_pow(x, size, alpha, beta, k)
    return (x * scale_pow).to(a.dtype)


def _through_scale(a: torch.Tensor, g: torch.Tensor, size: int, alpha: float, beta: float, k: float) -> torch.Tensor:
    """The backward's first loop: g * a * s ** (-beta - 1), float32, written out whole, so that the
    second loop's window sums read it instead of computing s again at every neighbour."""
    x = a.float()
    scale, scale_pow = _scale_pow(x, size, alpha, beta, k)
    return g.float() * x * scale_pow / scale


def _backward(a: torch.Tensor, g: torch.Tensor, through: torch.Tensor, size: int, alpha: float, beta: float,
              k: float) -> torch.Tensor:
    """The backward's second loop: grad_a = g * s ** -beta - 2 alpha beta a * (window sums of ``through``)."""
    x = a.float()
    _, scale_pow = _scale_pow(x, size, alpha, beta, k)
    return (g.float() * scale_pow - 2 * alpha * beta * x * _window_sum(through, size)).to(a.dtype)


_EAGER = {"forward": _forward, "through_scale": _through_scale, "backward": _backward}
_COMPILED = {name: torch.compile(function, dynamic=False) for name, function in _EAGER.items()}
_failed: list[str] = []  # why compiling failed, once it has: then every call runs the same code eagerly


def _run(name: str, *args) -> torch.Tensor:
    """The compiled ``_forward``, ``_through_scale`` or ``_backward``; where compiling fails (no C++
    compiler, say), a warning says why, once, and the same function runs uncompiled from then on."""
    if not _failed:
        try:
            return _COMPILED[name](*args)
        except Exception as err:  # the compiler's errors have many types
            _failed.append(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
            warnings.warn(f"LocalResponseNorm: compiling the bf16 CPU path failed ({_failed[0]}); running "
                          "the same formula uncompiled (slower, same results).", RuntimeWarning, stacklevel=2)
    return _EAGER[name](*args)


def _rows(t: torch.Tensor, groups: int) -> torch.Tensor:
    """N x C x H x W as (N * H * W * groups) rows of C / groups channels: a view of channels_last memory."""
    n, c, h, w = t.shape
    return t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1, c // groups)


def _maps(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """`_rows` undone: N x C x H x W in channels_last memory."""
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).permute(0, 3, 1, 2)


class CompiledLRNFunction(torch.autograd.Function):
    """Paper §3.3 on the CPU in bf16: `_LRNFunction`'s formula and derivative, as compiled loops."""

    @staticmethod
    def forward(ctx, a, size, alpha, beta, k, groups):
        rows = _rows(a, groups)
        ctx.save_for_backward(rows)
        ctx.constants, ctx.shape, ctx.groups = (size, alpha, beta, k), a.shape, groups
        return _maps(_run("forward", rows, size, alpha, beta, k), a.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_b):
        (rows,) = ctx.saved_tensors
        g = _rows(grad_b, ctx.groups)
        through = _run("through_scale", rows, g, *ctx.constants)
        return _maps(_run("backward", rows, g, through, *ctx.constants), ctx.shape), None, None, None, None, None
