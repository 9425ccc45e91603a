"""Tests of alexnet_lib.layers against the §3.3 formula, torch's own LRN and hand values."""

import pytest
import torch

from alexnet_lib.errors import AlexNetError
from alexnet_lib.layers import LocalResponseNorm


def lrn_formula_loop(a, n, alpha, beta, k):
    """§3.3 written out literally, one channel and one window term at a time."""
    N = a.shape[1]
    b = torch.empty_like(a)
    for i in range(N):
        total = torch.zeros_like(a[:, 0])
        for j in range(max(0, i - n // 2), min(N - 1, i + n // 2) + 1):
            total += a[:, j] ** 2
        b[:, i] = a[:, i] / (k + alpha * total) ** beta
    return b


@pytest.mark.parametrize(
    "size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.1, 0.5, 1.0), (5, 0.3, 0.9, 2.0)]
)
def test_lrn_matches_formula_loop(size, alpha, beta, k):
    torch.manual_seed(0)
    a = torch.randn(2, 7, 3, 4, dtype=torch.float64) * 10  # large enough that the sum matters
    out = LocalResponseNorm(size, alpha, beta, k)(a)
    expected = lrn_formula_loop(a, size, alpha, beta, k)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_lrn_paper_alpha_equals_torch_alpha_times_n():
    # torch divides alpha by n: the paper's alpha = 1e-4 is torch's 5e-4.
    torch.manual_seed(1)
    a = torch.randn(2, 16, 5, 5, dtype=torch.float64) * 20
    ours = LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
    torchs = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)(a)
    torch.testing.assert_close(ours, torchs, rtol=1e-12, atol=1e-12)


def test_lrn_2012_code_reading_equals_torch_alpha_1e_4():
    # cuda-convnet divided the scale by the window size: alpha = 1e-4 / 5 in the paper's notation.
    torch.manual_seed(2)
    a = torch.randn(2, 16, 5, 5, dtype=torch.float64) * 20
    ours = LocalResponseNorm(5, alpha=2e-5, beta=0.75, k=2.0)(a)
    torchs = torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)(a)
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


def test_lrn_gradient_matches_finite_differences():
    torch.manual_seed(3)
    a = torch.randn(1, 6, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LocalResponseNorm(5, alpha=0.5, beta=0.75, k=1.0), (a,))


def test_lrn_repr_shows_parameters_and_even_size_is_refused():
    assert "size=5, alpha=0.0001, beta=0.75, k=2.0" in repr(LocalResponseNorm())
    with pytest.raises(AlexNetError, match="odd"):
        LocalResponseNorm(size=4)
