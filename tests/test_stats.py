"""Paper §2 mean image: streamed, float64-accumulated, equal to numpy's mean of the stacked images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet_lib.data.stats import compute_mean_image, mean_image


def random_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def test_mean_of_single_images_equals_numpy():
    images = random_images(50, 8)
    mean = mean_image(iter(images), size=8)
    assert mean.dtype == torch.float32 and mean.shape == (3, 8, 8)
    np.testing.assert_allclose(mean.numpy(), images.numpy().mean(axis=0), rtol=0, atol=1e-5)


def test_batches_and_image_label_pairs_give_the_same_mean():
    images = random_images(30, 4)
    labels = torch.zeros(30, dtype=torch.int64)
    reference = images.numpy().astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(mean_image(images.split(7), size=4).numpy(), reference, atol=1e-5)
    np.testing.assert_allclose(mean_image(zip(images, labels), size=4).numpy(), reference, atol=1e-5)
    batched_pairs = zip(images.split(8), labels.split(8))
    np.testing.assert_allclose(mean_image(batched_pairs, size=4).numpy(), reference, atol=1e-5)


def test_running_sum_stays_exact_past_float32s_limit():
    """Past 2**24 a float32 sum no longer changes when 1 is added; the float64 sum does."""
    many = torch.full((66_000, 3, 1, 1), 255, dtype=torch.uint8)  # sum 16,830,000 > 2**24
    ones = [torch.ones(3, 1, 1, dtype=torch.uint8)] * 100
    exact = (255 * 66_000 + 100) / 66_100  # 254.61573..., while a float32 sum gives 254.61423
    assert mean_image([many, *ones], size=1)[0, 0, 0].item() == pytest.approx(exact, abs=2e-5)


def test_wrong_shape_dtype_or_nothing_is_a_value_error():
    with pytest.raises(ValueError, match="3×8×8"):
        mean_image([torch.zeros(3, 8, 9, dtype=torch.uint8)], size=8)
    with pytest.raises(ValueError, match="uint8"):
        mean_image([torch.zeros(3, 8, 8)], size=8)
    with pytest.raises(ValueError, match="no images"):
        mean_image([], size=8)


def test_compute_mean_image_preprocesses_every_image_of_the_split(standin_root):
    """Reference: each file opened by PIL, made RGB, shorter side 64, centre crop, stacked, numpy mean."""
    files = sorted((standin_root / "imagenet" / "val").rglob("*.JPEG"))
    crops = []
    for path in files:
        img = Image.open(path).convert("RGB")
        scale = 64 / min(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
        left, top = (img.width - 64) // 2, (img.height - 64) // 2
        crops.append(np.asarray(img)[top : top + 64, left : left + 64].transpose(2, 0, 1))
    reference = np.stack(crops).astype(np.float64).mean(axis=0)
    mean = compute_mean_image(standin_root / "imagenet", "val", size=64, batch_size=5)
    np.testing.assert_allclose(mean.numpy(), reference, atol=1e-4)
