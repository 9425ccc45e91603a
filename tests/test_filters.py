"""Figure 3's numbers per kernel and the ICA reference, against hand-made kernels and their known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alexnet_lib.errors import AlexNetError
from alexnet_lib.filters import gabor, orientedness, per_tower, smoothness, tower_split
from alexnet_lib.ica import fast_ica, photo_patches


def _blob(size: int = 11, sigma: float = 2.0) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))


def test_smoothness_of_random_smooth_and_checkerboard_kernels():
    random = torch.randn(500, 3, 11, 11, generator=torch.Generator().manual_seed(0))
    assert abs(smoothness(random).mean().item()) < 0.01
    checker = ((torch.arange(11)[:, None] + torch.arange(11)[None, :]) % 2 * 2 - 1).double()
    assert smoothness(checker.expand(1, 3, 11, 11)).item() == pytest.approx(-1, abs=1e-3)  # 61 vs 60 squares
    # a linear ramp: neighbours differ by a constant, so the correlation is high but below 1
    ramp = torch.arange(11, dtype=torch.float64).expand(1, 3, 11, 11)
    assert 0.7 < smoothness(ramp).item() < 1
    assert smoothness(torch.ones(1, 3, 5, 5)).item() == 0  # constant: no pattern at all


def test_orientedness_is_one_for_a_grating_zero_for_a_round_blob_and_small_for_noise():
    x = torch.arange(32, dtype=torch.float64)
    grating = torch.cos(2 * math.pi * 4 * x / 32).expand(32, 32).expand(1, 3, 32, 32)  # exactly on the grid
    assert orientedness(grating).item() == pytest.approx(1, abs=1e-9)
    assert orientedness(_blob().expand(1, 3, 11, 11)).item() < 1e-4  # round, up to the square grid
    gabors = torch.stack([gabor(angle=a) for a in (0.0, 0.7, 2.0)])
    assert (orientedness(gabors) > 0.85).all()
    # the score does not depend on the orientation (the doubled angle turns with it)
    assert orientedness(gabors).std().item() < 0.01
    random = torch.randn(500, 3, 11, 11, generator=torch.Generator().manual_seed(1))
    assert 0.03 < orientedness(random).mean().item() < 0.1
    with pytest.raises(AlexNetError, match="smaller than"):
        orientedness(torch.randn(1, 3, 11, 11), size=8)


def test_tower_split_by_hand():
    scores = [0.0] * 4 + [1.0] * 4  # every kernel of tower 2 above every one of tower 1
    split = tower_split(scores, permutations=2000)
    assert split["diff"] == 1.0
    # two of the C(8, 4) = 70 splits are as extreme (this one and its mirror): p near 2/70
    assert split["p"] == pytest.approx(2 / 70, abs=0.01)
    assert tower_split([1, 2, 1, 2, 1, 2, 1, 2], permutations=2000)["p"] > 0.5  # towers alike
    assert per_tower([1, 2, 3, 4]) == [1.5, 3.5]
    with pytest.raises(AlexNetError, match="two towers"):
        tower_split([1, 2, 3])


def test_fast_ica_unmixes_two_independent_sources_mixed_into_patches():
    """Patches that are a · s1 + b · s2 with s1, s2 independent and non-Gaussian: ICA finds a and b."""
    g = torch.Generator().manual_seed(0)
    a, b = gabor(5, 3.0, 0.0, 1.5)[:1], (_blob(5, 1.0) - _blob(5, 1.0).mean())[None]
    s = torch.rand(20_000, 2, generator=g, dtype=torch.float64) * 2 - 1  # uniform: non-Gaussian
    patches = s[:, :1, None, None] * a + s[:, 1:, None, None] * b
    found, _ = fast_ica(patches, components=2)
    for truth in (a, b):
        truth = (truth - truth.mean()).flatten()
        cosines = [abs(torch.nn.functional.cosine_similarity(truth, f.double().flatten(), dim=0).item()) for f in found]
        assert max(cosines) > 0.99


def test_photo_patches_come_from_every_photograph_in_equal_numbers():
    patches = photo_patches(11, count=18, seed=0)
    assert patches.shape == (18, 3, 11, 11) and patches.dtype == torch.float64
    assert 0 <= patches.min() and patches.max() <= 255
    np.testing.assert_array_equal(photo_patches(11, count=18, seed=0), patches)  # seeded
