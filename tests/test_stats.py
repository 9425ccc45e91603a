"""Paper §2 mean image and §4.1 RGB covariance: streamed, float64-accumulated, equal to numpy's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet_lib.data.imagenet import imagenet_folder
from alexnet_lib.data.stats import (
    DatasetStats,
    compute_dataset_stats,
    compute_mean_image,
    mean_image,
    rgb_covariance,
    rgb_eigen,
)
from alexnet_lib.errors import AlexNetError
from alexnet_lib.preprocess import paper_preprocess, to_uint8_tensor


def random_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 3, size, size), dtype=np.uint8))


def test_mean_of_single_images_equals_numpy():
    images = random_images(50, 8)
    mean = mean_image(iter(images), size=8)
    assert mean.dtype == torch.float32 and mean.shape == (3, 8, 8)
    # The float64 sums of integers are exact in any order; storing the mean (< 256) as float32
    # rounds it by at most half an ulp, 7.6e-6.
    np.testing.assert_allclose(mean.numpy(), images.numpy().mean(axis=0), rtol=0, atol=1e-5)


def test_batches_and_image_label_pairs_give_the_same_mean():
    images = random_images(30, 4)
    labels = torch.zeros(30, dtype=torch.int64)
    reference = images.numpy().astype(np.float64).mean(axis=0)
    # float32 storage of an exact mean < 256: half an ulp, 7.6e-6, on any CPU.
    np.testing.assert_allclose(mean_image(images.split(7), size=4).numpy(), reference, atol=1e-5)
    np.testing.assert_allclose(mean_image(zip(images, labels), size=4).numpy(), reference, atol=1e-5)
    batched_pairs = zip(images.split(8), labels.split(8))
    np.testing.assert_allclose(mean_image(batched_pairs, size=4).numpy(), reference, atol=1e-5)


def test_running_sum_stays_exact_past_float32s_limit():
    """Past 2**24 a float32 sum no longer changes when 1 is added; the float64 sum does."""
    many = torch.full((66_000, 3, 1, 1), 255, dtype=torch.uint8)  # sum 16,830,000 > 2**24
    ones = [torch.ones(3, 1, 1, dtype=torch.uint8)] * 100
    exact = (255 * 66_000 + 100) / 66_100  # 254.61573..., while a float32 sum gives 254.61423
    # abs=2e-5: float32 storage rounds 254.6 by at most 7.6e-6; a float32 sum would be 1.5e-3 off.
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
    # float32 storage of a mean < 256: 7.6e-6 at most; one pixel off by 1 would move it by 1/40.
    np.testing.assert_allclose(mean.numpy(), reference, atol=1e-4)


# --- §4.1: RGB covariance, its eigen-decomposition, saved statistics --------------------------


def pixels_of(images: torch.Tensor) -> np.ndarray:
    """All pixels of all images as rows of RGB values, float64."""
    return images.numpy().transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)


def test_rgb_covariance_equals_numpys_cov_over_all_pixels_for_uneven_batches():
    images = random_images(23, 6, seed=3)
    reference = np.cov(pixels_of(images), rowvar=False)
    labels = torch.zeros(23, dtype=torch.int64)
    for stream in (images.split(7), iter(images), zip(images.split(5), labels.split(5))):
        mean, cov = rgb_covariance(stream)
        assert mean.dtype == cov.dtype == torch.float64
        np.testing.assert_allclose(mean.numpy(), pixels_of(images).mean(0), rtol=1e-12)
        np.testing.assert_allclose(cov.numpy(), reference, rtol=1e-10)


def test_rgb_covariance_of_correlated_colours_of_different_image_sizes():
    """Images of two sizes (any H×W) and strongly correlated channels, as in real photographs."""
    rng = np.random.default_rng(4)
    grey = rng.integers(0, 200, (9, 1, 10, 12))
    images = torch.from_numpy((grey + rng.integers(0, 56, (9, 3, 10, 12))).astype(np.uint8))
    small = images[:4, :, :5, :7]
    mean, cov = rgb_covariance([images, small])
    pixels = np.concatenate([pixels_of(images), pixels_of(small)])
    np.testing.assert_allclose(cov.numpy(), np.cov(pixels, rowvar=False), rtol=1e-10)
    np.testing.assert_allclose(mean.numpy(), pixels.mean(0), rtol=1e-12)


def test_rgb_eigen_is_descending_orthonormal_and_reconstructs_the_covariance():
    _, cov = rgb_covariance([random_images(5, 8, seed=5)])
    eigenvalues, eigenvectors = rgb_eigen(cov)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    p, lam = eigenvectors.numpy(), eigenvalues.numpy()
    np.testing.assert_allclose(p @ np.diag(lam) @ p.T, cov.numpy(), rtol=1e-10)
    np.testing.assert_allclose(p.T @ p, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.sort(lam), np.linalg.eigvalsh(cov.numpy()), rtol=1e-10)
    assert (p[np.abs(p).argmax(0), range(3)] > 0).all()  # the sign convention


def test_wrong_rgb_inputs_are_value_errors():
    with pytest.raises(ValueError, match="uint8"):
        rgb_covariance([torch.zeros(2, 3, 4, 4)])
    with pytest.raises(ValueError, match="3×H×W"):
        rgb_covariance([torch.zeros(2, 1, 4, 4, dtype=torch.uint8)])
    with pytest.raises(ValueError, match="two pixels"):
        rgb_covariance([])
    with pytest.raises(ValueError, match="3×3"):
        rgb_eigen(torch.eye(4))


def test_dataset_stats_of_a_split_in_one_pass_match_the_separate_computations(standin_root, tmp_path):
    root = standin_root / "imagenet"
    stats = compute_dataset_stats(root, "val", size=32, batch_size=7)
    images = [to_uint8_tensor(paper_preprocess(img, 32)) for img, _ in imagenet_folder(root, "val")]
    reference = torch.stack(images)
    mean = compute_mean_image(root, "val", size=32)
    # Both round the same exact float64 mean to float32: equal bits (1e-6 is below half an ulp).
    np.testing.assert_allclose(stats.mean_image.numpy(), mean.numpy(), atol=1e-6)
    cov = np.cov(pixels_of(reference), rowvar=False)
    np.testing.assert_allclose(stats.rgb_covariance.numpy(), cov, rtol=1e-10)
    assert stats.num_images == len(reference)
    torch.testing.assert_close(stats.eigenvalues, rgb_eigen(stats.rgb_covariance)[0])

    path = tmp_path / "stats.pt"
    path.with_name("stats.pt.partial").write_bytes(b"left by a killed save")
    stats.save(path)
    loaded = DatasetStats.load(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.pt"]
    assert loaded.num_images == stats.num_images
    for name in ("mean_image", "rgb_mean", "rgb_covariance", "eigenvalues", "eigenvectors"):
        assert torch.equal(getattr(loaded, name), getattr(stats, name))


def test_a_save_killed_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "stats.pt"
    rgb_mean, covariance = torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    old = DatasetStats(torch.zeros(3, 2, 2), rgb_mean, covariance, num_images=1)
    old.save(path)

    def killed(obj, file):
        Path(file).write_bytes(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        DatasetStats(torch.ones(3, 2, 2), rgb_mean, covariance, num_images=2).save(path)
    monkeypatch.undo()
    loaded = DatasetStats.load(path)
    assert loaded.num_images == 1 and torch.equal(loaded.mean_image, old.mean_image)


def test_loading_missing_stats_says_how_to_make_them(tmp_path):
    with pytest.raises(AlexNetError, match="compute_dataset_stats"):
        DatasetStats.load(tmp_path / "missing.pt")
