"""Paper §3.3: local response normalization fused into one GPU kernel per pass (Triton).

The fast path of `alexnet_lib.layers.LocalResponseNorm` on CUDA. The reference path (the formula
in PyTorch ops, `layers._LRNFunction`) makes several passes over memory for the window sums; on a
GPU, LRN is memory-bound, so those passes are its whole cost. Here each pass reads its inputs once
and writes its output once.

Layout: the input is viewed channels_last, as P = N*H*W rows of C channels each, so one row holds
every channel of one position and the window of n neighbouring channels is a few neighbouring
elements of the same row. A program normalises ``TILE_ELEMENTS // C`` rows (C padded to a power of 2):

    forward:  s[i] = k + alpha * sum_{j in window(i)} a[j]^2,   b[i] = a[i] * s[i] ** -beta
    backward: grad_a[j] = g[j] * s[j] ** -beta
                          - 2 * alpha * beta * a[j] * sum_{i in window(j)} g[i] * a[i] * s[i] ** (-beta - 1)

(the derivative written out in `layers._LRNFunction`). The forward saves ``s`` in float32 for the
backward. Arithmetic is in float32 whatever the input dtype (bf16 under autocast); outputs take the
input's dtype. Windows stop at the edges of each block of C / groups channels, as in the reference.

Tested against the reference on the CPU with ``TRITON_INTERPRET=1`` (tests/test_lrn_triton.py).
"""

from __future__ import annotations

import torch
import triton
from torch.autograd.function import once_differentiable
import triton.language as tl

# Elements of the (rows x padded channels) tile one program holds: larger tiles spill registers
# (the backward keeps five of them live), smaller ones launch too many programs.
TILE_ELEMENTS = 1024  # measured best on an H100 (benchmarks/README.md)


@triton.jit
def _window(ptr, rows, cols, row_mask, C: tl.constexpr, GROUP: tl.constexpr, d: tl.constexpr):
    """The tile shifted by d channels, as float32; zero outside the channel's group."""
    c = cols + d
    inside = ((cols % GROUP) + d >= 0) & ((cols % GROUP) + d < GROUP) & (cols < C)
    mask = row_mask[:, None] & inside[None, :]
    return tl.load(ptr + rows[:, None] * C + c[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _lrn_forward(a_ptr, b_ptr, s_ptr, P, alpha, beta, k,
                 C: tl.constexpr, CP: tl.constexpr, GROUP: tl.constexpr, HALF: tl.constexpr,
                 BLOCK: tl.constexpr):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, CP)
    row_mask = rows < P
    sums = tl.zeros((BLOCK, CP), dtype=tl.float32)
    for d in tl.static_range(-HALF, HALF + 1):
        x = _window(a_ptr, rows, cols, row_mask, C, GROUP, d)
        sums += x * x
    a = _window(a_ptr, rows, cols, row_mask, C, GROUP, 0)
    s = k + alpha * sums
    b = a * tl.exp2(-beta * tl.log2(s))
    offsets = rows[:, None] * C + cols[None, :]
    mask = row_mask[:, None] & (cols < C)[None, :]
    tl.store(b_ptr + offsets, b.to(b_ptr.dtype.element_ty), mask=mask)
    tl.store(s_ptr + offsets, s, mask=mask)


@triton.jit
def _lrn_backward(g_ptr, a_ptr, s_ptr, grad_ptr, P, alpha, beta,
                  C: tl.constexpr, CP: tl.constexpr, GROUP: tl.constexpr, HALF: tl.constexpr,
                  BLOCK: tl.constexpr):
    rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    cols = tl.arange(0, CP)
    row_mask = rows < P
    through_scale = tl.zeros((BLOCK, CP), dtype=tl.float32)
    for d in tl.static_range(-HALF, HALF + 1):
        g = _window(g_ptr, rows, cols, row_mask, C, GROUP, d)
        a = _window(a_ptr, rows, cols, row_mask, C, GROUP, d)
        # s is never 0 inside the window (s >= k > 0); outside it, g = 0 and the 1.0 is harmless.
        c = cols + d
        inside = ((cols % GROUP) + d >= 0) & ((cols % GROUP) + d < GROUP) & (cols < C)
        s = tl.load(s_ptr + rows[:, None] * C + c[None, :],
                    mask=row_mask[:, None] & inside[None, :], other=1.0)
        through_scale += g * a * tl.exp2((-beta - 1.0) * tl.log2(s))
    g = _window(g_ptr, rows, cols, row_mask, C, GROUP, 0)
    a = _window(a_ptr, rows, cols, row_mask, C, GROUP, 0)
    offsets = rows[:, None] * C + cols[None, :]
    mask = row_mask[:, None] & (cols < C)[None, :]
    s = tl.load(s_ptr + offsets, mask=mask, other=1.0)
    grad = g * tl.exp2(-beta * tl.log2(s)) - 2.0 * alpha * beta * a * through_scale
    tl.store(grad_ptr + offsets, grad.to(grad_ptr.dtype.element_ty), mask=mask)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W as a contiguous (N*H*W) x C matrix (free when x is channels_last)."""
    return x.permute(0, 2, 3, 1).contiguous()


def _as_nchw(rows: torch.Tensor) -> torch.Tensor:
    """The inverse of `_rows`: a channels_last N x C x H x W view of an N x H x W x C tensor."""
    return rows.permute(0, 3, 1, 2)


def _launch_args(x: torch.Tensor, size: int, groups: int):
    n, c, h, w = x.shape
    rows = n * h * w
    padded = triton.next_power_of_2(c)
    block = max(1, TILE_ELEMENTS // padded)
    meta = dict(C=c, CP=padded, GROUP=c // groups, HALF=size // 2, BLOCK=block)
    return rows, (triton.cdiv(rows, block),), meta


class FusedLRNFunction(torch.autograd.Function):
    """Paper §3.3: the same function as `layers._LRNFunction`, each pass one Triton kernel."""

    @staticmethod
    def forward(ctx, a, size, alpha, beta, k, groups):
        a_rows = _rows(a)
        b_rows = torch.empty_like(a_rows)
        s_rows = torch.empty(a_rows.shape, dtype=torch.float32, device=a.device)
        rows, grid, meta = _launch_args(a, size, groups)
        _lrn_forward[grid](a_rows, b_rows, s_rows, rows, alpha, beta, k, **meta)
        ctx.save_for_backward(a_rows, s_rows)
        ctx.constants = size, alpha, beta, groups, a.shape
        return _as_nchw(b_rows)

    @staticmethod
    @once_differentiable  # a second derivative through this backward would be wrong: refuse it
    def backward(ctx, grad_b):
        a_rows, s_rows = ctx.saved_tensors
        size, alpha, beta, groups, shape = ctx.constants
        g_rows = _rows(grad_b)
        grad_rows = torch.empty_like(a_rows)
        rows, grid, meta = _launch_args(_as_nchw(a_rows), size, groups)
        _lrn_backward[grid](g_rows, a_rows, s_rows, grad_rows, rows, alpha, beta, **meta)
        return _as_nchw(grad_rows), None, None, None, None, None
