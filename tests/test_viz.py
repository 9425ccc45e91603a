"""Tests of alexnet_lib.viz (§6.1's figures) against loops over the definitions and hand-made cases."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from alexnet_lib.errors import AlexNetError  # noqa: E402
from alexnet_lib.models import SmallAlexNet  # noqa: E402
from alexnet_lib.viz import (  # noqa: E402
    colourfulness,
    hidden_features,
    kernel_grid,
    nearest_neighbours,
    normalise_kernels,
    plot_top5,
    top5,
    tower_colourfulness,
)


def colourfulness_loop(kernel: np.ndarray) -> float:
    """The definition, pixel by pixel: colour energy over the energy around the kernel's mean."""
    overall = kernel.mean()
    colour = total = 0.0
    for y in range(kernel.shape[1]):
        for x in range(kernel.shape[2]):
            r, g, b = kernel[:, y, x]
            grey = (r + g + b) / 3
            colour += (r - grey) ** 2 + (g - grey) ** 2 + (b - grey) ** 2
            total += (r - overall) ** 2 + (g - overall) ** 2 + (b - overall) ** 2
    return colour / total


# ---- Figure 3 ---------------------------------------------------------------------------------


def test_colourfulness_of_a_grey_kernel_is_0():
    pattern = torch.randn(1, 1, 11, 11)
    grey = pattern.expand(1, 3, 11, 11) + 0.7  # R = G = B everywhere, plus an offset
    assert colourfulness(grey).item() == pytest.approx(0.0, abs=1e-12)


def test_colourfulness_of_a_red_minus_green_kernel_is_1():
    pattern = torch.randn(11, 11)
    opponent = torch.stack([pattern, -pattern, torch.zeros(11, 11)])[None]
    assert colourfulness(opponent).item() == pytest.approx(1.0, abs=1e-12)
    # A uniform red-vs-green kernel (no spatial pattern at all) is colour, too.
    flat = torch.tensor([1.0, -1.0, 0.0])[None, :, None, None].expand(1, 3, 5, 5)
    assert colourfulness(flat).item() == pytest.approx(1.0, abs=1e-12)


def test_colourfulness_equals_the_pixel_loop():
    torch.manual_seed(0)
    kernels = torch.randn(6, 3, 5, 5) + torch.tensor([0.5, -0.2, 0.1])[:, None, None]
    kernels[1, 2] = kernels[1, 0]  # one kernel with two equal channels
    expected = [colourfulness_loop(k.double().numpy()) for k in kernels]
    np.testing.assert_allclose(colourfulness(kernels).numpy(), expected, rtol=1e-10)


def test_colourfulness_of_random_kernels_is_about_two_thirds():
    # Independent weights: 2 of the 3 colour-space directions per pixel are colour; n pixels give
    # 2n colour dimensions out of 3n - 1 (the kernel's mean removed): 242 / 362 for 11x11.
    torch.manual_seed(0)
    scores = colourfulness(torch.randn(4000, 3, 11, 11))
    assert scores.mean().item() == pytest.approx(242 / 362, abs=0.002)
    assert ((0 <= scores) & (scores <= 1)).all()


def test_colourfulness_of_a_constant_kernel_is_0_not_nan():
    assert colourfulness(torch.full((1, 3, 3, 3), 2.0)).item() == 0.0


def test_tower_colourfulness_averages_each_half():
    pattern = torch.randn(48, 1, 11, 11)
    grey = pattern.expand(48, 3, 11, 11)
    colour = torch.cat([pattern, -pattern, torch.zeros_like(pattern)], 1)
    first, second = tower_colourfulness(torch.cat([grey, colour]))
    assert first == pytest.approx(0.0, abs=1e-12) and second == pytest.approx(1.0, abs=1e-12)


def test_normalise_kernels_stretches_each_kernel_to_0_1_keeping_its_shape():
    torch.manual_seed(0)
    kernels = torch.randn(4, 3, 11, 11) * torch.tensor([0.01, 1.0, 5.0, 100.0])[:, None, None, None]
    kernels[3] = 7.0  # constant
    out = normalise_kernels(kernels)
    for i in range(3):
        w = kernels[i]
        expected = (w - w.min()) / (w.max() - w.min())  # one stretch for all three channels
        # float32, the dtype normalise_kernels returns: the same subtractions and division, each
        # correctly rounded on any CPU, so equal bits; the default tolerance is only slack.
        torch.testing.assert_close(out[i], expected)
    assert (out[3] == 0.5).all()


def test_kernel_grid_geometry_two_bands_of_3_by_16():
    torch.manual_seed(0)
    kernels = torch.randn(96, 3, 11, 11)
    grid = kernel_grid(kernels, towers=2, columns=16, pad=1, band_gap=4)
    # Each kernel in a 13x13 cell; 3 rows of cells per band, two bands 4 rows apart: 2*39 + 4 = 82.
    assert grid.shape == (82, 16 * 13, 3)
    shown = normalise_kernels(kernels).permute(0, 2, 3, 1).numpy()
    # Kernel 50: tower 2 (index 1), its 3rd kernel: row 0, column 2 of the second band.
    top, left = 39 + 4 + 1, 2 * 13 + 1
    np.testing.assert_array_equal(grid[top:top + 11, left:left + 11], shown[50])
    # Kernel 47: tower 1, row 2, column 15.
    top, left = 2 * 13 + 1, 15 * 13 + 1
    np.testing.assert_array_equal(grid[top:top + 11, left:left + 11], shown[47])
    # The frame around a kernel, and the gap between the bands, are white.
    assert (grid[0] == 1).all() and (grid[:, 0] == 1).all()
    assert (grid[39:43] == 1).all()


def test_kernel_grid_refuses_uneven_towers_and_non_rgb_kernels():
    with pytest.raises(AlexNetError, match="towers"):
        kernel_grid(torch.randn(5, 3, 3, 3), towers=2)
    with pytest.raises(AlexNetError, match="N×3×h×w"):
        colourfulness(torch.randn(5, 1, 3, 3))


# ---- Figure 4, left ---------------------------------------------------------------------------


NAMES = [f"class{i}" for i in range(8)]


def test_top5_most_probable_first_and_marks_the_true_label():
    probs = torch.tensor([0.05, 0.30, 0.02, 0.20, 0.10, 0.25, 0.03, 0.05])
    rows = top5(probs, label=4, class_names=NAMES)
    assert [name for name, _, _ in rows] == ["class1", "class5", "class3", "class4", "class0"]
    assert [t for *_, t in rows] == [False, False, False, True, False]
    assert rows[0][1] == pytest.approx(0.30)  # 0.30 as float32 is 4e-8 off, approx allows 1e-6
    # Ties (classes 0 and 7 both 0.05): the lower index first, every time.
    assert not any(t for *_, t in top5(probs, label=6, class_names=NAMES))


def _bar_colours(fig):
    return [[patch.get_facecolor() for patch in ax.patches] for ax in fig.axes if ax.patches]


def test_plot_top5_bar_is_red_exactly_when_the_true_label_is_in_the_top_5():
    probs = torch.tensor([[0.05, 0.30, 0.02, 0.20, 0.10, 0.25, 0.03, 0.05]] * 2)
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    fig = plot_top5(images, probs, labels=[4, 6], class_names=NAMES, columns=2)
    red, blue = to_rgba("tab:red"), to_rgba("tab:blue")
    first, second = _bar_colours(fig)
    assert first == [blue, blue, blue, red, blue]  # class4 is 4th most probable
    assert second == [blue] * 5  # class6 is not in the top 5
    plt.close(fig)


# ---- Figure 4, right --------------------------------------------------------------------------


def brute_force(query: np.ndarray, bank: np.ndarray, k: int):
    """Every distance by a loop, sorted by (distance, index)."""
    out_d, out_i = [], []
    for q in query:
        d = [(float(np.sqrt(((q - b) ** 2).sum())), i) for i, b in enumerate(bank)]
        d.sort()
        out_d.append([x for x, _ in d[:k]])
        out_i.append([i for _, i in d[:k]])
    return np.array(out_d), np.array(out_i)


@pytest.mark.parametrize("chunk_size", [7, 64, 1000])
def test_nearest_neighbours_equal_a_brute_force_loop(chunk_size):
    rng = np.random.default_rng(0)
    bank, query = rng.normal(size=(200, 16)), rng.normal(size=(5, 16))
    d, i = nearest_neighbours(torch.from_numpy(query), torch.from_numpy(bank), k=6,
                              chunk_size=chunk_size, device="cpu")
    ref_d, ref_i = brute_force(query, bank, 6)
    np.testing.assert_array_equal(i.numpy(), ref_i)
    np.testing.assert_allclose(d.numpy(), ref_d, rtol=1e-9)


def test_nearest_neighbours_float32_finds_the_same_rows():
    rng = np.random.default_rng(1)
    bank, query = rng.random((500, 64)).astype(np.float32), rng.random((4, 64)).astype(np.float32)
    _, i = nearest_neighbours(torch.from_numpy(query), torch.from_numpy(bank), k=6, chunk_size=128, device="cpu")
    _, ref_i = brute_force(query.astype(np.float64), bank.astype(np.float64), 6)
    np.testing.assert_array_equal(i.numpy(), ref_i)


def test_nearest_neighbours_ties_go_to_the_lower_index_whatever_the_chunks():
    bank = torch.tensor([[5.0, 0], [1, 0], [0, 1], [1, 0], [0, 1], [-1, 0]], dtype=torch.float64)
    query = torch.zeros(1, 2, dtype=torch.float64)  # distance 1 to rows 1..5, 5 to row 0
    for chunk_size in (1, 2, 3, 6):
        d, i = nearest_neighbours(query, bank, k=4, chunk_size=chunk_size, device="cpu")
        assert i.tolist() == [[1, 2, 3, 4]]
        assert d.tolist() == [[1.0, 1.0, 1.0, 1.0]]


def test_nearest_neighbours_refuses_bad_shapes_and_k():
    with pytest.raises(AlexNetError, match="same D"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 4), k=1)
    with pytest.raises(AlexNetError, match="k=6"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(5, 3), k=6)


def test_hidden_features_are_fc7_after_its_relu():
    torch.manual_seed(0)
    net = SmallAlexNet().double()  # float64: batches of 4 and of 10 may run other float32 kernels
    x = torch.randn(10, 1, 28, 28).double()
    features = hidden_features(net, x, batch_size=4, device="cpu")
    assert net.training  # its mode restored (the features themselves come from eval mode)
    net.eval()
    with torch.no_grad():  # by hand: conv layers, fc6, relu, dropout's test-time halving, fc7, relu
        c = net.classifier
        h = c.drop6(torch.relu(c.fc6(net.features(x).flatten(1))))
        expected = torch.relu(c.fc7(h))
    assert features.shape == (10, 256)
    # hidden_features hands back float32: the float64 features rounded once, at most 2^-24 relative.
    torch.testing.assert_close(features.double(), expected, rtol=2**-23, atol=1e-12)
    with pytest.raises(AlexNetError, match="no layer"):
        hidden_features(net, x, layer="classifier.fc9", device="cpu")


def test_torchvision_alexnet_offline_is_one_clear_error(tmp_path, monkeypatch):
    from alexnet_lib import viz

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))  # nothing cached here
    monkeypatch.setattr(viz.urllib.request, "urlopen", offline)
    with pytest.raises(AlexNetError, match="offline.*book's own checkpoint"):
        viz.torchvision_alexnet()


def test_nearest_neighbours_of_uint8_pixels_equal_the_float_search():
    # Integer inputs (raw pixels) are compared in float32, not in overflowing uint8 arithmetic.
    rng = np.random.default_rng(2)
    bank = torch.from_numpy(rng.integers(0, 256, (50, 300), dtype=np.uint8))
    query = torch.from_numpy(rng.integers(0, 256, (3, 300), dtype=np.uint8))
    d, i = nearest_neighbours(query, bank, k=5, chunk_size=16, device="cpu")
    ref_d, ref_i = brute_force(query.double().numpy(), bank.double().numpy(), 5)
    np.testing.assert_array_equal(i.numpy(), ref_i)
    # float32 |q|² - 2 q·b + |b|² from integer sums up to ~2e7 (ulp 2): at most ~1e-6 of d (~1800);
    # 5e-8 measured on AVX-512, AVX2 and SSE kernels.
    np.testing.assert_allclose(d.numpy(), ref_d, rtol=1e-5)
