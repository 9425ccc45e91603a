"""Paper §4.1 augmentation: crops and flips, PCA lighting, ten test patches, the training batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn
from torchvision.transforms.v2.functional import ten_crop as torchvision_ten_crop

from alexnet_lib.augment import (
    CIRCULATED_IMAGENET_EIGENVALUES,
    CIRCULATED_IMAGENET_EIGENVECTORS,
    TenCrop,
    augment_batch,
    lighting_components,
    lighting_lambdas,
    pca_lighting,
    random_crops_and_flips,
    ten_crop,
    ten_crop_predict,
)
from alexnet_lib.errors import AlexNetError
from alexnet_lib.evaluate import evaluate, topk_errors

EIGENVALUES = np.array([300.0, 40.0, 5.0])
EIGENVECTORS = np.linalg.qr(np.random.default_rng(9).normal(size=(3, 3)))[0]  # orthonormal columns


def random_uint8(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def coordinate_images(n: int, side: int) -> torch.Tensor:
    """Channel 0 holds each pixel's row, channel 1 its column: a patch tells where it was cut."""
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    return torch.stack([rows, cols, rows]).to(torch.uint8).expand(n, 3, side, side)


def offsets_and_flips(patches: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top, left, flipped) of each patch of `coordinate_images`."""
    top_rows, first_cols = patches[:, 0, :, 0].numpy().astype(int), patches[:, 1, 0, :].numpy().astype(int)
    flipped = first_cols[:, 0] > first_cols[:, -1]
    return top_rows[:, 0], first_cols.min(1), flipped


def find_offset(image: np.ndarray, patch: np.ndarray, shifted: bool = False) -> list[tuple[int, int, bool]]:
    """Every (top, left, flipped) at which `patch` equals a slice of `image` (to 1e-4), by brute force;
    with ``shifted``, a slice plus one constant per channel."""
    size = patch.shape[-1]
    windows = sliding_window_view(image, (size, size), axis=(1, 2))  # C × tops × lefts × size × size
    matches = []
    for flipped, candidate in ((False, patch), (True, patch[:, :, ::-1])):
        # A patch copies values (after at most one float32 subtraction, done alike on both sides):
        # they match bit for bit; atol 1e-4 is slack, far below the gaps between random pixels. A
        # shift added in float32 to values below 512 rounds each by at most half an ulp, 1.5e-5.
        differences = np.subtract(candidate[:, None, None], windows, dtype=np.float64)
        if shifted:
            differences -= differences[..., :1, :1]
        hits = (np.abs(differences) <= 1e-4).all(axis=(0, 3, 4))
        matches += [(int(t), int(l), flipped) for t, l in zip(*np.nonzero(hits))]
    return matches


# --- random crops and flips --------------------------------------------------------------------


def test_every_patch_is_a_slice_of_its_image_at_an_offset_in_0_to_32():
    images = random_uint8(24, 3, 40, 40)  # 40 - 8 = 32, as 256 - 224
    patches = random_crops_and_flips(images, size=8, generator=seeded(1))
    assert patches.shape == (24, 3, 8, 8)
    for image, patch in zip(images.numpy(), patches.numpy()):
        (top, left, _), = find_offset(image, patch)  # exactly one match in random data
        assert 0 <= top <= 32 and 0 <= left <= 32


def test_paper_size_patches_are_224_slices_of_256_images_with_offsets_0_to_32():
    patches = random_crops_and_flips(coordinate_images(64, 256), generator=seeded(2))
    assert patches.shape == (64, 3, 224, 224)
    tops, lefts, flipped = offsets_and_flips(patches)
    for patch, top, left, flip in zip(patches, tops, lefts, flipped):
        columns = np.arange(left, left + 224)[:: -1 if flip else 1]
        rows = np.arange(top, top + 224)[:, None]
        np.testing.assert_array_equal(patch[0].numpy(), np.broadcast_to(rows, (224, 224)))
        np.testing.assert_array_equal(patch[1].numpy(), np.broadcast_to(columns, (224, 224)))
    assert tops.min() >= 0 and tops.max() <= 32 and lefts.min() >= 0 and lefts.max() <= 32


def test_all_33_by_33_offsets_are_reached_and_half_the_patches_are_flipped():
    patches = random_crops_and_flips(coordinate_images(20_000, 40), 8, seeded(3))
    tops, lefts, flipped = offsets_and_flips(patches)
    assert set(zip(tops, lefts)) == {(t, l) for t in range(33) for l in range(33)}  # 1089 positions
    assert abs(flipped.mean() - 0.5) < 4 * np.sqrt(0.25 / 20_000)
    counts = np.bincount(tops, minlength=33)  # uniform: 20,000 / 33 ≈ 606 each
    assert np.abs(counts - 20_000 / 33).max() < 5 * np.sqrt(20_000 / 33)
    assert flipped[tops < 16].mean() == pytest.approx(flipped[tops >= 16].mean(), abs=0.03)  # independent


def test_seeded_generator_repeats_the_same_patches():
    images = random_uint8(16, 3, 20, 20)
    first = random_crops_and_flips(images, 8, seeded(4))
    assert torch.equal(first, random_crops_and_flips(images, 8, seeded(4)))
    assert not torch.equal(first, random_crops_and_flips(images, 8, seeded(5)))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bfloat16])
def test_patches_keep_the_input_dtype_and_device(dtype):
    images = random_uint8(3, 3, 12, 12).to(dtype)
    patches = random_crops_and_flips(images, 8)
    assert patches.dtype == dtype and patches.device == images.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_gpu_a_cpu_generator_gives_the_same_patches_as_on_the_cpu():
    images = random_uint8(32, 3, 256, 256)
    on_gpu = random_crops_and_flips(images.cuda(), generator=seeded(6))
    assert on_gpu.device.type == "cuda"
    assert torch.equal(on_gpu.cpu(), random_crops_and_flips(images, generator=seeded(6)))


def test_wrong_shapes_are_alexnet_errors():
    with pytest.raises(AlexNetError, match="N×C×H×W"):
        random_crops_and_flips(random_uint8(3, 256, 256))
    with pytest.raises(AlexNetError, match="224×224 patches from 200×256"):
        random_crops_and_flips(random_uint8(2, 3, 200, 256))


# --- PCA lighting ------------------------------------------------------------------------------


def test_lighting_adds_p_times_alpha_lambda_the_same_to_every_pixel():
    """Reference: α re-drawn with the same seed, p @ (α * λ) in numpy float64."""
    images = torch.from_numpy(np.random.default_rng(0).normal(size=(6, 3, 5, 7)).astype(np.float32))
    lit = pca_lighting(images, EIGENVALUES, EIGENVECTORS, std=0.1, generator=seeded(7))
    alphas = 0.1 * torch.randn(6, 3, generator=seeded(7)).double().numpy()
    expected_shift = (EIGENVECTORS @ (alphas * EIGENVALUES).T).T  # N × RGB
    shift = (lit - images).double().numpy()
    same_for_every_pixel = np.broadcast_to(expected_shift[:, :, None, None], shift.shape)
    # float32: lit holds pixels up to ~45 (ulp 3.8e-6); 4.4e-6 off measured on AVX-512/AVX2/SSE.
    np.testing.assert_allclose(shift, same_for_every_pixel, atol=1e-4)
    assert lit.dtype == images.dtype and np.abs(expected_shift).max() > 1  # a real shift happened


def test_lighting_alphas_are_independent_normal_with_std_0_1_per_image():
    """Project each image's shift back on the eigenvectors and divide by λ: that is its α."""
    images = torch.zeros(20_000, 3, 1, 1)
    shift = pca_lighting(images, EIGENVALUES, EIGENVECTORS, generator=seeded(8))[:, :, 0, 0].double().numpy()
    alphas = shift @ EIGENVECTORS / EIGENVALUES
    np.testing.assert_allclose(alphas.std(0), 0.1, rtol=0.03)
    np.testing.assert_allclose(alphas.mean(0), 0, atol=0.005)
    np.testing.assert_allclose(np.corrcoef(alphas.T), np.eye(3), atol=0.03)


def test_lighting_with_std_0_leaves_images_unchanged():
    images = torch.randn(4, 3, 6, 6)
    assert torch.equal(pca_lighting(images, EIGENVALUES, EIGENVECTORS, std=0.0), images)


def test_lighting_refuses_integer_images_and_wrong_eigen_shapes():
    with pytest.raises(AlexNetError, match=r"\.float\(\)"):
        pca_lighting(random_uint8(2, 3, 4, 4), EIGENVALUES, EIGENVECTORS)
    with pytest.raises(AlexNetError, match="1 eigenvalues and 1×1"):
        pca_lighting(torch.zeros(2, 1, 4, 4), EIGENVALUES, EIGENVECTORS)
    with pytest.raises(AlexNetError, match="3 eigenvalues"):
        pca_lighting(torch.zeros(2, 3, 4, 4), EIGENVALUES[:2], EIGENVECTORS)


def test_lighting_of_greyscale_images_is_one_brightness_shift_per_image_of_std_0_1_lambda():
    """One channel: the one eigenvector is 1, so each image moves by α λ, α ~ N(0, 0.1)."""
    images = torch.zeros(20_000, 1, 2, 2)
    shift = pca_lighting(images, [3.0], [[1.0]], generator=seeded(9))
    assert torch.equal(shift, shift[:, :, :1, :1].expand_as(shift))  # every pixel of an image alike
    expected = 0.1 * torch.randn(20_000, 1, generator=seeded(9)) * 3.0
    torch.testing.assert_close(shift[:, :, 0, 0], expected)
    np.testing.assert_allclose(shift[:, 0, 0, 0].std().item(), 0.3, rtol=0.03)


def test_unit_range_reading_turns_0_to_1_eigenvalues_into_the_circulated_0_to_255_values():
    """fb.resnet.torch's eigenvalues of 0..1 pixels, as eigenvalues of 0..255 pixels (× 255²)."""
    eigenvalues_255 = torch.tensor([0.2175, 0.0188, 0.0045], dtype=torch.float64) * 255**2
    lambdas = lighting_lambdas(eigenvalues_255, "unit-range")
    np.testing.assert_allclose(lambdas.numpy(), CIRCULATED_IMAGENET_EIGENVALUES, rtol=1e-3)
    stdevs = lighting_lambdas(eigenvalues_255)  # the default: the 2012 code's standard deviations
    np.testing.assert_allclose(stdevs.numpy(), np.sqrt(eigenvalues_255.numpy()))
    with pytest.raises(AlexNetError, match="unit-range"):
        lighting_lambdas(eigenvalues_255, "literal")


def test_circulated_eigenvectors_are_orthonormal_columns():
    vectors = np.array(CIRCULATED_IMAGENET_EIGENVECTORS)
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(3), atol=2e-4)


# --- the training batch ------------------------------------------------------------------------


def test_training_batch_with_std_0_is_a_patch_of_the_mean_subtracted_image():
    """Each patch is image minus mean image, both cut at one offset in 0..32 and mirrored alike."""
    images, mean = random_uint8(10, 3, 40, 40), torch.rand(3, 40, 40) * 255
    batch = augment_batch(images, mean, EIGENVALUES, EIGENVECTORS, size=8, std=0.0, generator=seeded(10))
    assert batch.shape == (10, 3, 8, 8) and batch.dtype == torch.float32
    for image, patch in zip(images.numpy(), batch.numpy()):
        assert len(find_offset(image - mean.numpy(), patch)) == 1


def test_training_batch_is_crops_then_lighting_drawn_from_one_generator():
    """Each patch, found by brute force in the mean-subtracted image, is the crop that ``generator``
    draws first, plus one shift per image whose α's are the generator's next draws (torch's global
    seed plays no part)."""
    images, mean = random_uint8(6, 3, 20, 20), torch.rand(3, 20, 20) * 255
    torch.manual_seed(0)
    batch = augment_batch(images, mean, EIGENVALUES, EIGENVECTORS, size=8, generator=seeded(11))
    torch.manual_seed(1)
    assert torch.equal(batch, augment_batch(images, mean, EIGENVALUES, EIGENVECTORS, size=8, generator=seeded(11)))
    g = seeded(11)
    crops = random_crops_and_flips(images, 8, g).numpy()
    alphas = 0.1 * torch.randn(6, 3, generator=g).double().numpy()
    centred = images.numpy() - mean.numpy()
    for image, centred_image, patch, crop, alpha in zip(images.numpy(), centred, batch.numpy(), crops, alphas):
        (offset,) = find_offset(image, crop)
        assert find_offset(centred_image, patch, shifted=True) == [offset]
        top, left, flipped = offset
        window = centred_image[:, top:top + 8, left:left + 8][:, :, ::-1 if flipped else 1]
        shift = (patch - window).reshape(3, -1).mean(1)
        # each pixel within 1.5e-5 (find_offset), so α within 1.5e-5 / λ3 = 3e-6
        np.testing.assert_allclose(shift @ EIGENVECTORS / EIGENVALUES, alpha, rtol=0, atol=1e-5)


def test_training_batch_wants_uint8_images_and_a_mean_of_their_size():
    with pytest.raises(AlexNetError, match="uint8"):
        augment_batch(torch.zeros(2, 3, 20, 20), torch.zeros(3, 20, 20), EIGENVALUES, EIGENVECTORS, size=8)
    with pytest.raises(AlexNetError, match=r"\(3, 16, 16\) mean"):
        augment_batch(random_uint8(2, 3, 20, 20), torch.zeros(3, 16, 16), EIGENVALUES, EIGENVECTORS, size=8)


# --- ten test patches --------------------------------------------------------------------------


def test_ten_views_are_corners_centre_and_their_mirror_images():
    images = random_uint8(2, 3, 12, 14)
    views = ten_crop(images, size=8).numpy()
    x = images.numpy()
    hand = [x[..., :8, :8], x[..., :8, 6:], x[..., 2:10, 3:11], x[..., 4:, :8], x[..., 4:, 6:]]
    hand += [v[..., ::-1] for v in hand]
    assert views.shape == (10, 2, 3, 8, 8)
    for view, expected in zip(views, hand):
        np.testing.assert_array_equal(view, expected)


def test_ten_views_are_torchvisions_ten_crop_in_the_2012_codes_order():
    images = random_uint8(2, 3, 256, 256)
    # torchvision: tl, tr, bl, br, centre, then those five of the mirrored image, whose top-left
    # patch is the mirror image of the top-right one, and so on.
    theirs = torchvision_ten_crop(images, [224, 224])
    order, mirrored_order = [0, 1, 4, 2, 3], [6, 5, 9, 8, 7]
    expected = torch.stack([theirs[i] for i in order + mirrored_order])
    assert torch.equal(ten_crop(images), expected)


def linear_model(classes: int = 5, size: int = 8) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * size * size, classes)).eval()


def test_ten_crop_predict_averages_the_softmax_over_the_ten_views():
    """Reference: the linear model's weights applied to hand-cut views, softmax and mean in numpy."""
    model = linear_model()
    images, mean = random_uint8(4, 3, 12, 12), torch.rand(3, 12, 12) * 255
    probs = ten_crop_predict(model, images, mean, size=8)
    weight, bias = (p.detach().double().numpy() for p in model[1].parameters())
    x = images.numpy() - mean.numpy().astype(np.float64)
    views = [x[..., :8, :8], x[..., :8, 4:], x[..., 2:10, 2:10], x[..., 4:, :8], x[..., 4:, 4:]]
    views += [v[..., ::-1] for v in views]
    softmaxes = []
    for view in views:
        logits = view.reshape(4, -1) @ weight.T + bias
        e = np.exp(logits - logits.max(1, keepdims=True))
        softmaxes.append(e / e.sum(1, keepdims=True))
    assert probs.shape == (4, 5)
    # ten_crop_predict runs in float32 (images.float()): 6e-8 off measured on AVX-512, AVX2 and SSE
    # kernels, 1e-5 leaves 150x; the sum of 5 probabilities is a few float32 ulps (6e-8) from 1.
    np.testing.assert_allclose(probs.numpy(), np.mean(softmaxes, axis=0), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1).numpy(), 1, atol=1e-6)


def test_a_mirror_invariant_model_gets_the_average_over_the_five_patches():
    model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4)).eval()
    images = torch.randn(3, 3, 12, 12)
    views = ten_crop(images, 8)
    by_hand = torch.stack([model(v).softmax(-1) for v in views[:5]]).mean(0)
    # float32 (ten_crop_predict's dtype): a mirrored view sums its 64 pixels in another order,
    # ~3e-8 off; the default tolerance (1e-5 absolute for probabilities) leaves 300x.
    torch.testing.assert_close(ten_crop_predict(model, images, size=8), by_hand.detach())


def test_ten_crop_model_evaluates_the_paper_way_and_needs_eval_mode():
    model = linear_model(classes=3)
    images, labels = random_uint8(12, 3, 12, 12), torch.arange(12) % 3
    wrapped = TenCrop(model, torch.full((3, 12, 12), 100.0), size=8)
    probs = ten_crop_predict(model, images, torch.full((3, 12, 12), 100.0), size=8)
    loader = [(images[:5], labels[:5]), (images[5:], labels[5:])]
    assert evaluate(wrapped, loader, device="cpu", ks=(1, 2)) == topk_errors(probs, labels, ks=(1, 2))
    with pytest.raises(AlexNetError, match="model.eval"):
        ten_crop_predict(model.train(), images, size=8)


def test_lighting_components_are_the_pixel_covariances_eigen_in_the_2012_reading():
    """Independent channels of standard deviations 1, 2, 3: eigenvalues 1, 4, 9, so λ = 1, 2, 3."""
    g = torch.Generator().manual_seed(0)
    images = torch.randn(400, 3, 16, 16, generator=g) * torch.tensor([1.0, 2.0, 3.0])[None, :, None, None]
    lambdas, vectors = lighting_components(images)
    np.testing.assert_allclose(lambdas.numpy(), [1, 2, 3], rtol=0.01)  # ascending, as eigh gives them
    np.testing.assert_allclose(vectors.abs().numpy(), np.eye(3), atol=0.02)
    grey, one = lighting_components(torch.randn(100, 1, 8, 8, generator=g) * 5)
    assert grey.shape == (1,) and abs(grey.item() - 5) < 0.1 and one.abs().item() == 1
