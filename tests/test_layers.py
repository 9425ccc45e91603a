"""Tests of alexnet_lib.layers against the §3.3 formula, torch's own LRN and hand values."""

import pytest
import torch

from alexnet_lib.errors import AlexNetError
from alexnet_lib.layers import LocalResponseNorm, competing


def lrn_formula_loop(a, n, alpha, beta, k, groups=1):
    """§3.3 written out literally, one channel and one window term at a time.

    With groups > 1 the limits max(0, .) and min(N - 1, .) become the first and last channel of
    i's block of N / groups channels.
    """
    N = a.shape[1]
    block = N // groups
    b = torch.empty_like(a)
    for i in range(N):
        first, last = i // block * block, i // block * block + block - 1
        total = torch.zeros_like(a[:, 0])
        for j in range(max(first, i - n // 2), min(last, i + n // 2) + 1):
            total = total + a[:, j] ** 2
        b[:, i] = a[:, i] / (k + alpha * total) ** beta
    return b


@pytest.mark.parametrize(
    "size, alpha, beta, k",
    [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0), (5, 0.3, 0.9, 2.0), (1, 0.2, 0.75, 1.0), (7, 0.05, 0.75, 2.0)],
)
def test_lrn_matches_formula_loop(size, alpha, beta, k):
    torch.manual_seed(0)
    a = torch.randn(2, 7, 3, 4, dtype=torch.float64) * 10  # large enough that the sum matters
    out = LocalResponseNorm(size, alpha, beta, k)(a)
    expected = lrn_formula_loop(a, size, alpha, beta, k)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "ours_alpha, torch_alpha",
    [
        (1e-4, 5e-4),  # torch divides alpha by n: the paper's alpha = 1e-4 is torch's 5e-4
        (2e-5, 1e-4),  # cuda-convnet divided the scale by n too: alpha = 1e-4 / 5 in the paper's notation
    ],
)
def test_lrn_alpha_readings_match_torch_alpha_over_n(ours_alpha, torch_alpha):
    torch.manual_seed(1)
    a = torch.randn(2, 16, 5, 5, dtype=torch.float64) * 20
    ours = LocalResponseNorm(5, alpha=ours_alpha, beta=0.75, k=2.0)(a)
    torchs = torch.nn.LocalResponseNorm(5, alpha=torch_alpha, beta=0.75, k=2.0)(a)
    torch.testing.assert_close(ours, torchs, rtol=1e-12, atol=1e-12)


def test_lrn_edge_channels_clip_the_window_on_all_ones():
    # All ones, alpha = beta = 1, k = 2: b[i] = 1 / (2 + number of channels in i's window).
    # With N = 7 and n = 5 the windows hold 3, 4, 5, 5, 5, 4, 3 channels.
    ones = torch.ones(1, 7, 2, 2, dtype=torch.float64)
    out = LocalResponseNorm(5, alpha=1.0, beta=1.0, k=2.0)(ones)
    expected = torch.tensor([1 / 5, 1 / 6, 1 / 7, 1 / 7, 1 / 7, 1 / 6, 1 / 5], dtype=torch.float64)
    torch.testing.assert_close(out[0, :, 0, 0], expected, rtol=1e-15, atol=0)
    assert (out == out[:, :, :1, :1]).all()  # every position is normalised alike


def test_lrn_window_does_not_reach_beyond_n_over_2():
    # Only channel 3 is active: channels 1..5 see it in their window, channels 0 and 6 don't.
    a = torch.zeros(1, 7, 1, 1, dtype=torch.float64)
    a[0, 3] = 3.0
    a[0, [0, 6]] = 1.0
    out = LocalResponseNorm(5, alpha=1.0, beta=1.0, k=2.0)(a)
    assert out[0, 0, 0, 0].item() == 1 / (2 + 1)  # own square only; channel 3 is 3 away
    assert out[0, 6, 0, 0].item() == 1 / (2 + 1)
    assert out[0, 3, 0, 0].item() == 3 / (2 + 9)  # channels 1..5: only its own 3^2


def test_lrn_single_channel_hand_value():
    # C = 1: b = a / (k + alpha a^2)^beta = 2 / (2 + 0.5 * 4)^0.5 = 2 / 2 = 1.
    a = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
    assert LocalResponseNorm(5, alpha=0.5, beta=0.5, k=2.0)(a).item() == 1.0


def test_lrn_paper_constants_on_all_ones_hand_value():
    # Interior channel of an all-ones input: 1 / (2 + 1e-4 * 5)^0.75.
    out = LocalResponseNorm()(torch.ones(1, 9, 1, 1, dtype=torch.float64))
    assert out[0, 4, 0, 0].item() == pytest.approx((2 + 5e-4) ** -0.75, rel=1e-14)


def test_competing_threshold_by_hand():
    # One channel: the divisor over k^beta is (1 + alpha a^2 / k)^beta, which passes 1.01 where
    # a^2 > (1.01^(4/3) - 1) * 2 / 1e-4 = 267.1..., i.e. between a = 16 and a = 17.
    a = torch.tensor([0.0, 16.0, 17.0, 100.0]).reshape(1, 1, 1, 4)
    assert competing(a).flatten().tolist() == [False, False, True, True]
    # Five channels at 8: only the centre's window holds all five, 5 * 64 = 320 > 267.1, and
    # competes; the clipped windows of channels 1 and 3 hold four (256), of 0 and 4 three (192).
    five = torch.full((1, 5, 1, 1), 8.0)
    assert competing(five).flatten().tolist() == [False, False, True, False, False]


def test_lrn_inputs_are_the_relu_outputs_and_the_mode_is_kept():
    from alexnet_lib.experiments.lrn import competing_share, lrn_inputs
    from alexnet_lib.models import CifarNet

    torch.manual_seed(0)
    net = CifarNet(in_channels=1, image_size=32, lrn=True).train()
    x = 50 * torch.randn(4, 1, 32, 32)
    a1, a2 = lrn_inputs(net, x)
    f = net.features
    with torch.no_grad():
        assert torch.equal(a1, f.act1(f.conv1(x)))
        assert torch.equal(a2, f.act2(f.conv2(f.pool1(f.lrn1(a1)))))
    assert net.training
    over = competing(a1).sum() + competing(a2).sum()
    assert competing_share(net, x) == over.item() / (a1.numel() + a2.numel())


def test_lrn_gradient_matches_finite_differences():
    torch.manual_seed(3)
    a = torch.randn(1, 6, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LocalResponseNorm(5, alpha=0.5, beta=0.75, k=1.0), (a,))


def test_lrn_repr_shows_parameters_and_even_size_is_refused():
    assert "size=5, alpha=0.0001, beta=0.75, k=2.0)" in repr(LocalResponseNorm())
    assert "k=2.0, groups=2)" in repr(LocalResponseNorm(groups=2))
    with pytest.raises(AlexNetError, match="odd"):
        LocalResponseNorm(size=4)
    with pytest.raises(AlexNetError, match="groups=0"):
        LocalResponseNorm(groups=0)


@pytest.mark.parametrize("groups", [1, 2, 3])
@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.2, 0.6, 1.0)])
def test_lrn_backward_matches_autograd_through_formula_loop(groups, size, alpha, beta, k):
    # The hand-written backward against autograd differentiating the literal loop.
    torch.manual_seed(4)
    a = (torch.randn(2, 12, 3, 3, dtype=torch.float64) * 5).requires_grad_()
    grad_out = torch.randn(2, 12, 3, 3, dtype=torch.float64)
    (ours,) = torch.autograd.grad(LocalResponseNorm(size, alpha, beta, k, groups)(a), a, grad_out)
    (loops,) = torch.autograd.grad(lrn_formula_loop(a, size, alpha, beta, k, groups), a, grad_out)
    torch.testing.assert_close(ours, loops, rtol=1e-12, atol=1e-12)


def test_lrn_float32_matches_float64_formula_at_the_papers_scale():
    # conv1-like activations (ReLU outputs up to ~100) in float32, the dtype training uses.
    torch.manual_seed(5)
    a = (torch.randn(4, 96, 5, 5, dtype=torch.float64) * 40).relu()
    expected = lrn_formula_loop(a, 5, 1e-4, 0.75, 2.0)
    out = LocalResponseNorm()(a.float())
    # float32 rounding of a 5-term sum, two square roots and a product: a few ulps (2e-7 relative
    # measured, on AVX-512, AVX2 and SSE kernels alike); rtol 1e-6 is 8 ulps or more.
    torch.testing.assert_close(out.double(), expected, rtol=1e-6, atol=1e-6)


def test_lrn_second_derivative_is_refused_not_wrong():
    a = torch.randn(1, 6, 2, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(LocalResponseNorm()(a).sum(), a, create_graph=True)
    # The hand-written backward is marked once-differentiable: its result carries no graph.
    with pytest.raises(RuntimeError, match="does not require grad|differentiate twice"):
        grad.sum().backward()


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0)])
def test_lrn_groups_matches_formula_loop_with_block_limits(size, alpha, beta, k):
    torch.manual_seed(6)
    a = torch.randn(2, 12, 3, 2, dtype=torch.float64) * 10
    for groups in (2, 3, 4):
        out = LocalResponseNorm(size, alpha, beta, k, groups=groups)(a)
        expected = lrn_formula_loop(a, size, alpha, beta, k, groups)
        torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_lrn_groups_equals_groups_1_applied_to_each_block_separately():
    # The 2012 towers: conv1's 96 maps normalised as two independent blocks of 48.
    torch.manual_seed(7)
    a = torch.randn(2, 96, 4, 4, dtype=torch.float64).relu() * 50
    per_block = torch.cat([LocalResponseNorm()(block) for block in a.chunk(2, dim=1)], dim=1)
    torch.testing.assert_close(LocalResponseNorm(groups=2)(a), per_block, rtol=1e-14, atol=0)
    # ... and it differs from the formula across all 96 maps at the block edges 47 and 48 only.
    across = LocalResponseNorm()(a)
    differs = (LocalResponseNorm(groups=2)(a) != across).flatten(2).any(-1).any(0)
    assert differs.nonzero().flatten().tolist() == [46, 47, 48, 49]


def test_lrn_groups_window_never_crosses_a_block():
    # Channel 2 ends block 0 (groups=2, 3 channels each): its neighbour 3 is in the other block.
    a = torch.zeros(1, 6, 1, 1, dtype=torch.float64)
    a[0, 2], a[0, 3] = 1.0, 3.0
    out = LocalResponseNorm(5, alpha=1.0, beta=1.0, k=2.0, groups=2)(a)
    assert out[0, 2, 0, 0].item() == 1 / (2 + 1)  # own square only
    assert out[0, 3, 0, 0].item() == 3 / (2 + 9)


def test_lrn_groups_gradient_matches_finite_differences():
    torch.manual_seed(8)
    a = torch.randn(1, 8, 2, 2, dtype=torch.float64, requires_grad=True)
    lrn = LocalResponseNorm(3, alpha=0.5, beta=0.75, k=1.0, groups=2)
    assert torch.autograd.gradcheck(lrn, (a,))


def test_lrn_channels_not_divisible_by_groups_is_refused():
    with pytest.raises(AlexNetError, match="divisible by 2"):
        LocalResponseNorm(groups=2)(torch.ones(1, 5, 2, 2))


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("groups", [1, 2, 3])
def test_lrn_channels_last_input_matches_formula_loop_and_stays_channels_last(groups, size):
    # train_resident trains in channels_last: the window sums take a separate path there.
    torch.manual_seed(9)
    a = (torch.randn(2, 12, 3, 4, dtype=torch.float64) * 10).requires_grad_()
    a_cl = a.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    grad_out = torch.randn(2, 12, 3, 4, dtype=torch.float64)
    lrn = LocalResponseNorm(size, alpha=0.01, beta=0.75, k=2.0, groups=groups)
    out = lrn(a_cl)
    assert out.is_contiguous(memory_format=torch.channels_last)
    expected = lrn_formula_loop(a, size, 0.01, 0.75, 2.0, groups)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    (ours,) = torch.autograd.grad(out, a_cl, grad_out)
    (loops,) = torch.autograd.grad(expected, a, grad_out)
    torch.testing.assert_close(ours, loops, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_lrn_bfloat16_is_the_float64_formula_rounded_once(memory_format):
    # bf16 input (autocast) is normalised in float32 and rounded at the end: output and gradient
    # are within bf16's rounding (2^-8 relative) of the float64 formula on the same bf16 values.
    torch.manual_seed(10)
    a16 = (torch.randn(2, 12, 3, 4) * 40).relu().bfloat16()
    g16 = torch.randn(2, 12, 3, 4).bfloat16()
    a = a16.double().requires_grad_()
    expected = lrn_formula_loop(a, 5, 1e-4, 0.75, 2.0, groups=2)
    (expected_grad,) = torch.autograd.grad(expected, a, g16.double())
    x = a16.contiguous(memory_format=memory_format).requires_grad_()
    out = LocalResponseNorm(groups=2)(x)
    (grad,) = torch.autograd.grad(out, x, g16)
    assert out.dtype == grad.dtype == torch.bfloat16
    # One rounding to bf16 (8 bits) is at most 2^-8 / (1 + 2^-8) relative: with the float32 error
    # before it (~1e-7, whichever CPU kernels ran) still inside 2^-8. The atols matter only near 0,
    # e.g. for a gradient whose two terms nearly cancel and keep their ~1e-7 absolute float32 error.
    torch.testing.assert_close(out.double(), expected, rtol=2**-8, atol=1e-6)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=2**-8, atol=2**-8 * 0.01)


@pytest.mark.parametrize("groups, size", [(1, 5), (2, 5), (3, 3), (2, 7)])
def test_lrn_bfloat16_compiled_path_equals_the_reference_path_to_a_rounding(groups, size):
    # On the CPU, bf16 input takes the compiled loops (alexnet_lib.lrn_compiled); fused=False the
    # reference ops. Both compute in float32 and round once: they differ by at most one bf16 step.
    torch.manual_seed(11)
    a16 = (torch.randn(3, 24, 5, 6) * 40).relu().bfloat16().contiguous(memory_format=torch.channels_last)
    g16 = torch.randn(3, 24, 5, 6).bfloat16()
    results = []
    for fused in (True, False):
        x = a16.clone().requires_grad_()
        out = LocalResponseNorm(size, groups=groups, fused=fused)(x)
        (grad,) = torch.autograd.grad(out, x, g16)
        results.append((out.double(), grad.double()))
        assert out.is_contiguous(memory_format=torch.channels_last) and grad.dtype == torch.bfloat16
    (out, grad), (ref_out, ref_grad) = results
    torch.testing.assert_close(out, ref_out, rtol=2**-7, atol=1e-6)
    torch.testing.assert_close(grad, ref_grad, rtol=2**-7, atol=2**-8 * 0.01)


def test_lrn_bfloat16_without_a_compiler_warns_once_and_computes_the_same(monkeypatch):
    from alexnet_lib import lrn_compiled

    def no_compiler(*args):
        raise RuntimeError("no C++ compiler found")

    monkeypatch.setattr(lrn_compiled, "_COMPILED", {name: no_compiler for name in lrn_compiled._EAGER})
    monkeypatch.setattr(lrn_compiled, "_failed", [])
    torch.manual_seed(12)
    a16 = (torch.randn(2, 12, 3, 4) * 40).relu().bfloat16().requires_grad_()
    with pytest.warns(RuntimeWarning, match=r"compiling the bf16 CPU path failed \(no C\+\+ compiler found\)"):
        out = LocalResponseNorm(groups=2)(a16)
    expected = lrn_formula_loop(a16.detach().double(), 5, 1e-4, 0.75, 2.0, groups=2)
    torch.testing.assert_close(out.double(), expected, rtol=2**-8, atol=1e-6)
    out.sum().backward()  # the backward runs uncompiled too, without a second warning
    assert lrn_compiled._failed == ["no C++ compiler found"] and torch.isfinite(a16.grad.double()).all()
