"""Paper §2 preprocessing: shorter side to 256, central 256×256 crop, always RGB."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from alexnet_lib.data.photos import photographs
from alexnet_lib.preprocess import center_crop, paper_preprocess, rescale_shorter_side, to_rgb, to_uint8_tensor


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "size_in, size_out",  # (width, height); long sides worked out by hand and rounded to nearest
    [
        ((640, 427), (384, 256)),  # landscape: 640 * 256 / 427 = 383.7
        ((300, 500), (256, 427)),  # portrait: 500 * 256 / 300 = 426.7
        ((512, 512), (256, 256)),  # square
        ((3, 2), (384, 256)),  # tiny: upscaled
        ((1, 1), (256, 256)),
    ],
)
def test_rescale_shorter_side_sizes(size_in, size_out):
    assert rescale_shorter_side(noise_image(*size_in)).size == size_out
    assert paper_preprocess(noise_image(*size_in)).size == (256, 256)


def test_rescale_keeps_aspect_ratio_to_half_a_pixel():
    for width, height in np.random.default_rng(1).integers(20, 900, (25, 2)):
        out_w, out_h = rescale_shorter_side(Image.new("RGB", (int(width), int(height)))).size
        assert min(out_w, out_h) == 256
        assert abs(max(out_w, out_h) - 256 * max(width, height) / min(width, height)) <= 0.5


def test_rescale_at_256_already_is_the_identity():
    img = noise_image(256, 391)
    assert np.array_equal(np.asarray(rescale_shorter_side(img)), np.asarray(img))


def test_shrinking_is_antialiased():
    """A one-pixel checkerboard shrunk 4× must average to grey, not alias into a pattern."""
    board = (np.indices((1024, 1024)).sum(0) % 2 * 255).astype(np.uint8)
    small = np.asarray(rescale_shorter_side(Image.fromarray(board).convert("RGB")), dtype=np.float64)
    assert small.shape == (256, 256, 3) and np.abs(small - 127.5).max() <= 1


@pytest.mark.parametrize(
    "width, height, left, top", [(300, 256, 22, 0), (259, 260, 1, 2), (256, 257, 0, 0), (400, 301, 72, 22)]
)
def test_center_crop_equals_numpy_slicing(width, height, left, top):
    """Offsets by hand: an odd margin leaves the extra pixel on the right (bottom)."""
    img = noise_image(width, height)
    assert np.array_equal(np.asarray(center_crop(img)), np.asarray(img)[top : top + 256, left : left + 256])


@pytest.mark.parametrize("size_in", [(640, 427), (300, 500), (999, 1000)])
def test_paper_preprocess_is_rescale_then_central_slice(size_in):
    rescaled = np.asarray(rescale_shorter_side(noise_image(*size_in)))
    top, left = (rescaled.shape[0] - 256) // 2, (rescaled.shape[1] - 256) // 2
    expected = rescaled[top : top + 256, left : left + 256]
    assert np.array_equal(np.asarray(paper_preprocess(noise_image(*size_in))), expected)


def test_matches_torchvision_resize_and_center_crop_where_their_rounding_agrees():
    """500×375: long side 341.33 (round and truncate agree), margin 85 (42 either way)."""
    img = noise_image(500, 375)
    reference = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(256)])(img)
    assert np.array_equal(np.asarray(paper_preprocess(img)), np.asarray(reference))


def test_greyscale_cmyk_palette_and_rgba_come_out_rgb():
    grey = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300), dtype=np.uint8))
    assert np.array_equal(np.asarray(to_rgb(grey)), np.repeat(np.asarray(grey)[..., None], 3, axis=2))
    cyan = Image.new("CMYK", (300, 200), (255, 0, 0, 0))
    assert to_rgb(cyan).getpixel((5, 5)) == (0, 255, 255)
    assert to_rgb(Image.new("RGBA", (4, 4), (10, 20, 30, 0))).getpixel((0, 0)) == (10, 20, 30)
    for img in (grey, cyan, grey.convert("P"), Image.new("RGBA", (300, 200))):
        out = paper_preprocess(img)
        assert out.mode == "RGB" and out.size == (256, 256)


def test_to_uint8_tensor_is_channels_first_raw_values():
    img = noise_image(7, 5)
    tensor = to_uint8_tensor(img)
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, 5, 7)
    assert tensor[2, 4, 6].item() == img.getpixel((6, 4))[2]
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), np.asarray(img))
    assert to_uint8_tensor(Image.new("L", (2, 2), 9)).tolist() == [[[9, 9], [9, 9]]] * 3


def test_photographs_are_real_colour_of_varied_aspect_ratios():
    photos = photographs()
    aspects = {name: img.width / img.height for name, img in photos.items()}
    assert min(aspects.values()) < 0.8 and max(aspects.values()) > 1.4 and 1.0 in aspects.values()
    for img in photos.values():
        assert img.mode == "RGB" and min(img.size) >= 256  # real photographs, large enough to be shrunk
        pixels = np.asarray(img).astype(int)
        assert (np.abs(pixels[..., 0] - pixels[..., 1]).mean()) > 3  # colour, not grey in RGB clothing
        assert paper_preprocess(img).size == (256, 256)
