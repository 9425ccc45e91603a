"""Paper §2: real colour photographs that ship with scikit-image, for showing preprocessing offline."""

from __future__ import annotations

import skimage.data
from PIL import Image


def photographs() -> dict[str, Image.Image]:
    """Paper §2: real RGB photographs of different sizes and aspect ratios, name -> PIL image.

    Sizes (width×height): astronaut 512×512, hubble_deep_field 1000×872, chelsea 451×300,
    coffee 600×400, rocket 640×427, motorcycle 741×500, and rocket_portrait 284×427 (the middle of
    rocket, cropped by us: scikit-image ships no portrait colour photograph). All offline.
    """
    rocket = Image.fromarray(skimage.data.rocket())
    return {
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "hubble_deep_field": Image.fromarray(skimage.data.hubble_deep_field()),
        "chelsea": Image.fromarray(skimage.data.chelsea()),
        "coffee": Image.fromarray(skimage.data.coffee()),
        "rocket": rocket,
        "motorcycle": Image.fromarray(skimage.data.stereo_motorcycle()[0]),  # the left view of a stereo pair
        "rocket_portrait": rocket.crop((178, 0, 462, 427)),
    }
