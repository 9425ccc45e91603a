"""Paper §4.1: data augmentation, as a few tensor ops on a whole batch, on the batch's device.

Training sees a random 224×224 patch of each 256×256 image, mirrored with probability 1/2, with
the mean image subtracted and a random colour shift along the RGB principal components added
("PCA lighting"); testing averages the softmax over ten patches (four corners, centre, and their
mirror images). The paper made the training patches on the CPU while the GPU trained on the
previous batch; here they are made on whatever device holds the batch (the GPU when present)::

    stats = DatasetStats.load(path)  # mean image + RGB PCA (alexnet_lib.data.stats)
    x = augment_batch(images_uint8, stats.mean_image, lighting_lambdas(stats.eigenvalues),
                      stats.eigenvectors, generator=g)               # N×3×224×224 float32
    probs = ten_crop_predict(model.eval(), images_uint8, stats.mean_image)  # N×classes

What the authors' 2012 code did differently (computerhistory/AlexNet-Source-Code, ``convdata.py``):

* It drew one crop offset and one flip per *chunk of 32 images* (``crop_chunk = 32``), not per
  image; offsets ran over ``0 .. 2*border`` inclusive, like ours.
* It subtracted the *central* 224×224 patch of the mean image from every patch, wherever that patch
  was cut from; here each pixel loses the mean of its own position, as §2 says.
* Its colour noise was ``eigenvectors @ (N(0, 1) × stdevs)`` (the values its batch metadata stores
  as ``color_pca[0]`` are named standard deviations), times ``--color-noise`` = 0.1; the noisy
  image was then divided by 1 + 0.1. Late in training the noise was set to 0 (the cfg notes).
* Its ten test views came in the order used here: top-left, top-right, centre, bottom-left,
  bottom-right, then the same five mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .errors import AlexNetError

# NOT from the paper: the RGB PCA of ImageNet that circulates with fb.resnet.torch
# (datasets/imagenet.lua, "computed from random subset of ImageNet training images"), there given as
# eigenvalues (0.2175, 0.0188, 0.0045) for pixel values on 0..1. The values below are those times 255,
# as widely used on 0..255 pixels: λ in the "unit-range" reading of `lighting_lambdas`. How they were
# computed is not documented, and their scale does not fit ImageNet's usual channel standard deviations
# (0.229, 0.224, 0.225 on 0..1: a total variance of ~9,965 on 0..255, where these, as eigenvalues of
# 0..1 pixels, imply ~15,658): the book uses their directions, and each store's own eigenvalues.
# Eigenvectors are the columns, rows are R, G, B.
CIRCULATED_IMAGENET_EIGENVALUES = (55.46, 4.794, 1.148)
CIRCULATED_IMAGENET_EIGENVECTORS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


def _check_images(images: torch.Tensor, size: int | None = None, channels: int | None = None) -> None:
    """Raise `AlexNetError` unless ``images`` is N×C×H×W (C = ``channels``) with H, W ≥ ``size``."""
    if images.dim() != 4 or (channels is not None and images.shape[1] != channels):
        raise AlexNetError(
            f"Expected a batch of images N×{channels or 'C'}×H×W, got shape {tuple(images.shape)}: "
            "stack single images with torch.stack, or add a batch dimension with .unsqueeze(0)."
        )
    if size is not None and min(images.shape[2:]) < size:
        raise AlexNetError(
            f"Cannot cut {size}×{size} patches from {images.shape[2]}×{images.shape[3]} images: "
            "feed the paper's 256×256 images (alexnet_lib.preprocess.paper_preprocess)."
        )


def _generator_device(generator: torch.Generator | None, device: torch.device) -> torch.device:
    """Random numbers are drawn where the generator lives (a CPU generator gives the same draws
    whatever device the batch is on), else on the batch's device."""
    return generator.device if generator is not None else device


def random_crops_and_flips(
    images: torch.Tensor, size: int = 224, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Paper §4.1: one random ``size``×``size`` patch per image, mirrored left-right with probability 1/2.

    ``images`` is N×C×H×W of any dtype on any device; the result has the same dtype and device.
    Each image gets its own top and left offsets, uniform over 0 .. H - size and 0 .. W - size,
    and its own coin for the flip. No loop over images: one gather with an index grid. Draws, in
    order: N tops, N lefts, N flips, from ``generator`` (on its device) when given.

    The paper says this "increases the size of our training set by a factor of 2048", that is
    (256 - 224)² × 2 = 32² × 2. But 256 - 224 = 32 leaves 33 offsets per axis (0 .. 32 inclusive),
    so there are 33² × 2 = 2178 distinct (patch, flip) pairs per image; the authors' code drew
    offsets from 0 .. 32 inclusive too. Either way the patches overlap heavily: they are far from
    independent samples.
    """
    _check_images(images, size)
    n, channels, height, width = images.shape
    device = images.device
    draw_on = _generator_device(generator, device)
    tops = torch.randint(0, height - size + 1, (n,), generator=generator, device=draw_on).to(device)
    lefts = torch.randint(0, width - size + 1, (n,), generator=generator, device=draw_on).to(device)
    flips = torch.randint(0, 2, (n,), generator=generator, device=draw_on).to(device, torch.bool)
    steps = torch.arange(size, device=device)
    rows = tops[:, None] + steps  # N×size
    cols = lefts[:, None] + torch.where(flips[:, None], size - 1 - steps, steps)  # mirrored: right to left
    batch = torch.arange(n, device=device)[:, None, None, None]
    channel = torch.arange(channels, device=device)[None, :, None, None]
    return images[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]


def lighting_lambdas(
    eigenvalues: torch.Tensor | Sequence[float], reading: str = "2012-code"
) -> torch.Tensor:
    """Paper §4.1: the λ to put into the PCA-lighting formula for 0..255 images, from the eigenvalues
    of the RGB covariance of 0..255 pixel values (`alexnet_lib.data.stats.rgb_covariance`).

    The formula adds α λ to a pixel, and λ is a variance (pixel value squared): its size depends on
    the pixel scale, which the paper does not state. Taken literally on 0..255 pixels, ImageNet's
    first eigenvalue is about 10⁴, and α λ with α ~ N(0, 0.1) would shift pixels by about ±1000.
    Two readings give sensible shifts:

    * ``"2012-code"`` (default): λ = √eigenvalue, the standard deviation along each principal
      component, which the authors' code (``convdata.py``) multiplied by its N(0, 1) noise: what
      they ran, and the same on any pixel scale.
    * ``"unit-range"``: the formula on pixel values scaled to 0..1, its shift scaled back to
      0..255, i.e. λ = eigenvalue / 255: the convention of re-implementations, whose ImageNet
      values (`CIRCULATED_IMAGENET_EIGENVALUES`) are fb.resnet.torch's 0..1 eigenvalues × 255.
      Its shifts are a few times smaller (the §4.1 chapter measures both on real photographs).

    A covariance has no negative eigenvalue; round-off can give a tiny one where the colours are
    dependent (greyscale images: R = G = B, one component), so they are clipped at 0 first.
    """
    eigenvalues = torch.as_tensor(eigenvalues, dtype=torch.float64).clamp(min=0)
    if reading == "unit-range":
        return eigenvalues / 255
    if reading == "2012-code":
        return eigenvalues.sqrt()
    raise AlexNetError(f"Unknown lighting reading {reading!r}: use 'unit-range' or '2012-code'.")


def lighting_components(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paper §4.1: the PCA of the pixel values of a float batch ``images`` (N×C×H×W, any C).

    Every pixel is one sample of a C-vector; returns the λ to put into `pca_lighting` in the
    2012 code's reading (`lighting_lambdas`: the square roots of the eigenvalues, so the shifts
    suit the images' own scale) and the eigenvectors as columns, float32. For uint8 ImageNet-size
    sets, streamed, see `alexnet_lib.data.stats.rgb_covariance`.
    """
    _check_images(images)
    pixels = images.transpose(0, 1).flatten(1).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.atleast_2d(torch.cov(pixels)))
    return lighting_lambdas(eigenvalues.clamp(min=0)).float(), eigenvectors.float()


def pca_lighting(
    images: torch.Tensor,
    eigenvalues: torch.Tensor | Sequence[float],
    eigenvectors: torch.Tensor | Sequence[Sequence[float]],
    std: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Paper §4.1: add [p1 p2 p3][α1 λ1, α2 λ2, α3 λ3]ᵀ to every pixel of an image, α_i ~ N(0, std).

    ``images`` is a float N×3×H×W batch; ``eigenvalues`` holds λ1..λ3 and ``eigenvectors`` the
    p_i as columns (rows R, G, B). One α per image and component, drawn afresh at every call
    ("each time the image is used"): α = ``std`` × ``torch.randn(N, 3)`` from ``generator`` (on
    its device) when given. Any number C of channels works the same way (C eigenvalues, C×C
    eigenvectors): on greyscale images (C = 1) the one component is brightness, and the rule
    becomes a random brightness shift of α λ. Every pixel of an image moves by the same RGB vector: the image gets
    brighter or darker and its colour shifts along the principal components, while its content
    stays. λ is in squared pixel units, so it must suit the images' scale: see `lighting_lambdas`.
    Returns a new tensor of the images' dtype and device.
    """
    _check_images(images)
    if not images.is_floating_point():
        raise AlexNetError(
            f"PCA lighting adds a real-valued shift: convert the {images.dtype} images with .float() "
            "(and subtract the mean image) first."
        )
    device = images.device
    lambdas = torch.as_tensor(eigenvalues, dtype=torch.float32, device=device)
    vectors = torch.as_tensor(eigenvectors, dtype=torch.float32, device=device)
    c = images.shape[1]
    if lambdas.shape != (c,) or vectors.shape != (c, c):
        raise AlexNetError(
            f"Expected {c} eigenvalues and {c}×{c} eigenvectors (as columns) for {c}-channel images, got "
            f"shapes {tuple(lambdas.shape)} and {tuple(vectors.shape)}: use alexnet_lib.data.stats.rgb_eigen."
        )
    draw_on = _generator_device(generator, device)
    alphas = std * torch.randn(len(images), c, generator=generator, device=draw_on)
    shift = (alphas.to(device) * lambdas) @ vectors.T  # row n: sum_i α_ni λ_i p_i
    return images + shift.to(images.dtype)[:, :, None, None]


def augment_batch(
    images: torch.Tensor,
    mean_image: torch.Tensor,
    eigenvalues: torch.Tensor | Sequence[float],
    eigenvectors: torch.Tensor | Sequence[Sequence[float]],
    size: int = 224,
    std: float = 0.1,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Paper §4.1: one training batch, from uint8 N×3×256×256 images to float32 N×3×224×224 inputs.

    Subtract the mean image (§2's only preprocessing), cut a random patch and mirror it
    (`random_crops_and_flips`), add PCA lighting (`pca_lighting`; ``eigenvalues`` as that takes
    them, see `lighting_lambdas`). The mean is subtracted from the whole 256×256 image before the
    crop, which is exactly the same as subtracting the mean image's patch at the same offset and
    flip after it, and simpler; it converts the full image to float (1.3× the pixels of the patch).
    ``generator`` draws the crops and flips, then the α's.
    """
    _check_images(images, size, channels=3)
    if images.dtype != torch.uint8 or mean_image.shape != images.shape[1:]:
        raise AlexNetError(
            f"Expected uint8 images N×3×H×W and a {tuple(images.shape[1:])} mean image, got "
            f"{images.dtype} images {tuple(images.shape)} and a {tuple(mean_image.shape)} mean: "
            "compute the mean image at the size of the images (alexnet_lib.data.stats)."
        )
    centred = images.float() - mean_image.to(images.device, torch.float32)
    patches = random_crops_and_flips(centred, size, generator)
    return pca_lighting(patches, eigenvalues, eigenvectors, std, generator)


def ten_crop(images: torch.Tensor, size: int = 224) -> torch.Tensor:
    """Paper §4.1: the ten test patches of each image, stacked as 10×N×C×size×size.

    Order (that of the authors' code): top-left, top-right, centre, bottom-left, bottom-right, then
    the same five mirrored left-right. The centre patch starts at ((H - size) // 2, (W - size) // 2):
    (16, 16) for 224 out of 256. ``images`` is N×C×H×W of any dtype; the views keep it.
    """
    _check_images(images, size)
    height, width = images.shape[2:]
    bottom, right = height - size, width - size
    corners = [(0, 0), (0, right), (bottom // 2, right // 2), (bottom, 0), (bottom, right)]
    patches = [images[:, :, top : top + size, left : left + size] for top, left in corners]
    return torch.stack(patches + [patch.flip(-1) for patch in patches])


def ten_crop_predict(
    model: nn.Module, images: torch.Tensor, mean_image: torch.Tensor | None = None, size: int = 224
) -> torch.Tensor:
    """Paper §4.1: the softmax of ``model`` averaged over the ten patches of each image, N×classes.

    "At test time, the network makes a prediction by extracting five 224×224 patches (the four
    corner patches and the center patch) as well as their horizontal reflections (hence ten patches
    in all), and averaging the predictions made by the network's softmax layer on the ten patches."
    ``images`` are N×3×H×W (uint8 or float); ``mean_image``, when given, is subtracted first. The
    model must be in eval mode (dropout in its test-time form, §4.2); it runs once per view on N
    patches, under `torch.no_grad`. The averaged probabilities go straight into `evaluate.topk_errors`.
    """
    if model.training:
        raise AlexNetError(
            "ten_crop_predict needs the model in eval mode (dropout in its test-time form, §4.2): "
            "call model.eval() first."
        )
    x = images.float()
    if mean_image is not None:
        x = x - mean_image.to(x.device, x.dtype)
    with torch.no_grad():
        return torch.stack([model(view).float().softmax(-1) for view in ten_crop(x, size)]).mean(0)


class TenCrop(nn.Module):
    """Paper §4.1: a model that answers with its ten-patch averaged softmax (`ten_crop_predict`).

    Wrap a trained net to evaluate it the paper's way over a loader of uncropped images:
    ``evaluate(TenCrop(model, mean_image), loader)``. The mean image is a buffer, so it moves
    with ``.to(device)``.
    """

    def __init__(self, model: nn.Module, mean_image: torch.Tensor | None = None, size: int = 224):
        super().__init__()
        self.model, self.size = model, size
        self.register_buffer("mean_image", mean_image)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return ten_crop_predict(self.model, images, self.mean_image, self.size)
