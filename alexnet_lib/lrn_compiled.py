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

Layout: the maps are taken channels_last and viewed as rows of C channels (one row per image and
position), so that a window is a few neighbouring elements of a row and the compiled loops run,
and vectorise, along it. Each row is copied once with a few zero channels at either end (`_pad`),
and a small 0/1 table (`_keep`) stops each window at its tower's edges: a copy and a
multiplication, where tests of the channel's index at every load made the loops three times slower.

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


def _window_sum(padded: torch.Tensor, keep: torch.Tensor, start: int) -> torch.Tensor:
    """For each channel i of the rows of ``padded`` (R x (C + extra), channel i at column start + i),
    the sum over the window of channels centred on it: ``keep[d, i]`` is 1 where the neighbour at
    offset d - size // 2 lies in i's tower (the formula's max(0, .) and min(N - 1, .)), else 0."""
    size, c = keep.shape
    first = start - size // 2
    sums = padded[:, first:first + c] * keep[0]
    for d in range(1, size):
        sums = sums + padded[:, first + d:first + d + c] * keep[d]
    return sums


def _scale_pow(x: torch.Tensor, keep: torch.Tensor, start: int, alpha: float, beta: float, k: float):
    """s = k + alpha * (window sums of x^2) for the channels at ``start`` .. of the padded rows ``x``,
    and s ** -beta (for the paper's 3/4 as two square roots, which vectorise, where a power does not)."""
    scale = k + alpha * _window_sum(x * x, keep, start)
    return scale, (torch.rsqrt(scale * torch.sqrt(scale)) if beta == 0.75 else scale.pow(-beta))


def _forward(a: torch.Tensor, keep: torch.Tensor, alpha: float, beta: float, k: float) -> torch.Tensor:
    """b for the rows of ``a``, which carry `_pad` zero channels on each side (so that the loops read
    every window without a bounds test); b is R x C."""
    x, c, pad = a.float(), keep.shape[1], _pad(keep)
    _, scale_pow = _scale_pow(x, keep, pad, alpha, beta, k)
    return (x[:, pad:pad + c] * scale_pow).to(a.dtype)


def _through_scale(a: torch.Tensor, g: torch.Tensor, keep: torch.Tensor, inside: torch.Tensor, alpha: float,
                   beta: float, k: float) -> torch.Tensor:
    """The backward's first loop: g * a * s ** (-beta - 1), float32, with size // 2 zero channels on
    each side (``g`` comes padded so, ``inside`` is 1 on the C channels), written out whole so that
    the second loop's window sums read it instead of computing s again at every neighbour."""
    half, pad = keep.shape[0] // 2, _pad(keep)
    x, width = a.float(), keep.shape[1] + 2 * half
    scale, scale_pow = _scale_pow(x, _widened(keep, half), pad - half, alpha, beta, k)
    return g.float() * x[:, pad - half:pad - half + width] * scale_pow / scale * inside


def _backward(a: torch.Tensor, g: torch.Tensor, through: torch.Tensor, keep: torch.Tensor, alpha: float,
              beta: float, k: float) -> torch.Tensor:
    """The backward's second loop: grad_a = g * s ** -beta - 2 alpha beta a * (window sums of ``through``)."""
    x, c, pad = a.float(), keep.shape[1], _pad(keep)
    _, scale_pow = _scale_pow(x, keep, pad, alpha, beta, k)
    sums = _window_sum(through, keep, keep.shape[0] // 2)
    return (g.float() * scale_pow - 2 * alpha * beta * x[:, pad:pad + c] * sums).to(a.dtype)


def _pad(keep: torch.Tensor) -> int:
    """The zero channels on each side of the saved rows: twice the half-window, so that the backward
    can compute s for size // 2 channels beyond each end without a bounds test."""
    return 2 * (keep.shape[0] // 2)


def _widened(keep: torch.Tensor, half: int) -> torch.Tensor:
    """``keep`` for ``half`` more channels on each side (their values are multiplied by 0 later)."""
    return F.pad(keep, (half, half))


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


def _rows(t: torch.Tensor) -> torch.Tensor:
    """N x C x H x W as N * H * W rows of C channels: a view of channels_last memory."""
    n, c, h, w = t.shape
    return t.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(-1, c)


def _maps(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """`_rows` undone: N x C x H x W in channels_last memory."""
    n, c, h, w = shape
    return rows.reshape(n, h, w, c).permute(0, 3, 1, 2)


def _keep(channels: int, size: int, groups: int) -> torch.Tensor:
    """`_window_sum`'s 0/1 table: for each offset in the window and each channel, whether the
    neighbour at that offset is in the same tower (block of channels / groups) as the channel."""
    own = torch.arange(channels) % (channels // groups)
    offsets = torch.arange(size)[:, None] - size // 2
    return ((own + offsets >= 0) & (own + offsets < channels // groups)).float()


class CompiledLRNFunction(torch.autograd.Function):
    """Paper §3.3 on the CPU in bf16: `_LRNFunction`'s formula and derivative, as compiled loops."""

    @staticmethod
    def forward(ctx, a, size, alpha, beta, k, groups):
        keep = _keep(a.shape[1], size, groups)
        padded = F.pad(_rows(a), (_pad(keep), _pad(keep)))
        inside = F.pad(torch.ones(a.shape[1]), (size // 2, size // 2))
        ctx.save_for_backward(padded, keep, inside)
        ctx.constants, ctx.shape = (alpha, beta, k), a.shape
        return _maps(_run("forward", padded, keep, alpha, beta, k), a.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_b):
        padded, keep, inside = ctx.saved_tensors
        g = _rows(grad_b)
        half = keep.shape[0] // 2
        through = _run("through_scale", padded, F.pad(g, (half, half)), keep, inside, *ctx.constants)
        grad = _run("backward", padded, g, through, keep, *ctx.constants)
        return _maps(grad, ctx.shape), None, None, None, None, None
