"""Paper §2: the only preprocessing AlexNet uses, from any photograph to a 256×256 RGB image.

"We down-sampled the images to a fixed resolution of 256×256. Given a rectangular image, we first
rescaled the image such that the shorter side was of length 256, and then cropped out the central
256×256 patch." The per-pixel mean subtraction that follows lives in `alexnet_lib.data.stats`.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_rgb(img: Image.Image) -> Image.Image:
    """Paper §2 ("raw RGB values"): any PIL image (greyscale, CMYK, palette, RGBA) as RGB.

    ImageNet holds a few greyscale and CMYK JPEGs; the network always sees three channels.
    Greyscale is copied into R, G and B; an alpha channel is dropped.
    """
    return img if img.mode == "RGB" else img.convert("RGB")


def rescale_shorter_side(img: Image.Image, size: int = 256) -> Image.Image:
    """Paper §2: rescale so that the shorter side is exactly ``size``, keeping the aspect ratio.

    The longer side is rounded to the nearest pixel (torchvision's ``Resize`` truncates, so the two
    can differ by one pixel on the long side). The paper does not name a resampling filter; we use
    PIL's bilinear filter, torchvision's default, which widens its kernel when it shrinks an image
    so that every source pixel contributes (no aliasing of fine texture on a 4× reduction).
    An image whose shorter side already is ``size`` is returned unchanged.
    """
    width, height = img.size
    short = min(width, height)
    if short == size:
        return img
    scale = size / short
    new_size = (size, round(height * scale)) if width <= height else (round(width * scale), size)
    return img.resize(new_size, Image.BILINEAR)


def center_crop(img: Image.Image, size: int = 256) -> Image.Image:
    """Paper §2: the central ``size``×``size`` patch.

    The left and top offsets are ``(width - size) // 2`` and ``(height - size) // 2``: when the
    margin to cut is odd, the right (bottom) margin is the one with the extra pixel.
    """
    width, height = img.size
    if width < size or height < size:
        raise ValueError(f"cannot crop {size}×{size} from a {width}×{height} image")
    left, top = (width - size) // 2, (height - size) // 2
    return img.crop((left, top, left + size, top + size))


def paper_preprocess(img: Image.Image, size: int = 256) -> Image.Image:
    """Paper §2: RGB, shorter side rescaled to ``size``, central ``size``×``size`` crop."""
    return center_crop(rescale_shorter_side(to_rgb(img), size), size)


def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """Paper §2: an image as a 3×H×W uint8 tensor of raw RGB values (channels first, as torch wants)."""
    return torch.from_numpy(np.array(to_rgb(img), dtype=np.uint8)).permute(2, 0, 1).contiguous()
