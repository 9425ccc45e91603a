"""Paper §2: ImageNet in its folder layout (the stand-in, Imagenette or ILSVRC-2012), read as RGB images."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PIL import Image
from torchvision.datasets import ImageFolder, ImageNet

from ..config import DRY_RUN_SIZES, Profile, data_root, dry_run, get_profile
from ..errors import AlexNetError
from ..preprocess import to_rgb
from .download import download_dataset
from .standin import STANDIN_CLASSES, is_standin, make_standin

DEVKIT, META = "ILSVRC2012_devkit_t12.tar.gz", "meta.bin"  # the official devkit, and torchvision's parse of it
ARCHIVES = {"train": "ILSVRC2012_img_train.tar", "val": "ILSVRC2012_img_val.tar"}

# Where each profile's ImageNet lives under data_root(), and how a reader gets it there.
FOLDERS = {"standin": "standin/imagenet", "imagenette": "imagenette", "ilsvrc2012": "imagenet",
           "fashion-mnist": "fashion-mnist/imagenet"}
HOW_TO_GET = {
    "standin": "Generate it (seconds, offline): `python -m alexnet_lib.data.standin`.",
    "imagenette": (
        "`python -m alexnet_lib.data.prepare` downloads it when online; or download imagenette2-320.tgz "
        "(https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz, "
        "listed at https://github.com/fastai/imagenette), extract it and rename the folder imagenette2-320 "
        "to {root}, so that it holds train/<wnid>/ and val/<wnid>/."
    ),
    "ilsvrc2012": (
        "Register at https://image-net.org and put ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar and "
        "ILSVRC2012_devkit_t12.tar.gz in {root} (torchvision unpacks them on first use), or put extracted "
        "folders there as {root}/train/<wnid>/*.JPEG and {root}/val/<wnid>/*.JPEG."
    ),
    "fashion-mnist": "Write it from Fashion-MNIST (seconds, offline): `python -m alexnet_lib.data.fashion_mnist --imagenet`.",
}


def imagenet_root(profile: Profile | str | None = None, *, download: bool = False) -> Path:
    """Paper §2: the ImageNet-layout folder the profile reads (stand-in, Imagenette or ILSVRC-2012).

    With ``download``, what is missing is fetched: Imagenette downloaded and extracted
    (`download_dataset`), the stand-in generated (`make_standin`, seconds, offline), Fashion-MNIST
    written in the layout (`write_imagenet_layout`, seconds, offline); ILSVRC-2012
    cannot be downloaded by a script. Raises `AlexNetError`, saying where the data goes and how to
    get it, when the folder is missing.
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    root = data_root() / FOLDERS[profile.imagenet]
    if not root.is_dir() and download and profile.imagenet == "imagenette":
        download_dataset("imagenette", root)
    if not root.is_dir() and download and profile.imagenet == "standin":
        make_standin(root.parent)
    if not (root / "SOURCE").is_file() and download and profile.imagenet == "fashion-mnist":
        from .fashion_mnist import write_imagenet_layout  # a copy a kill left unfinished is completed

        write_imagenet_layout(root, per_class=DRY_RUN_SIZES["n_train"] // 10 if dry_run() else None)
    if not root.is_dir():
        raise AlexNetError(
            f"The {profile.name} profile reads ImageNet-layout data from {root}, which does not exist. "
            + HOW_TO_GET[profile.imagenet].format(root=root)
            + " (ALEXNET_DATA moves the data root; ALEXNET_PROFILE picks the profile; see data/README.md.)"
        )
    return root


def load_rgb(path: str | Path) -> Image.Image:
    """Paper §2 ("raw RGB values"): open an image file as RGB, whatever its mode (CMYK, greyscale, palette)."""
    with Image.open(path) as img:
        img.load()
        return to_rgb(img)


def imagenet_folder(root: str | Path, split: str = "train", transform: Callable | None = None) -> ImageFolder:
    """Paper §2: one split of an ImageNet-layout ``root`` as a dataset of (RGB PIL image, class index).

    ``root`` holds ``train/<wnid>/*`` and ``val/<wnid>/*``, or the official ILSVRC-2012 archives with
    the devkit; then torchvision's `ImageNet` reads them (it parses the devkit once into ``meta.bin``
    and unpacks a split's archive into ``root/<split>/`` on first use, which takes hours for train).
    The dataset has ``.classes`` (wnids, sorted), ``.class_names`` (readable names, from
    ``synset_words.txt`` or the devkit when present, else the names this library knows, else the
    wnid) and ``.source`` (whether it is the generated stand-in, or what a ``SOURCE`` file in ``root``
    says the images are). ``transform`` maps each image.
    """
    root = Path(root)
    split_dir = root / split
    devkit_names = {}
    if (root / DEVKIT).is_file() or (root / META).is_file():
        try:
            dataset = ImageNet(root, split, transform=transform, loader=load_rgb)
        except RuntimeError as err:  # a missing or corrupt archive
            raise AlexNetError(
                f"Cannot read the {split} split of ILSVRC-2012 in {root}: {err} "
                f"It needs {ARCHIVES.get(split, split)} and {DEVKIT} there (from https://image-net.org), "
                f"or the extracted folder {split_dir}/<wnid>/."
            ) from None
        devkit_names = {wnid: synonyms[0] for wnid, synonyms in zip(dataset.wnids, dataset.classes)}
        dataset.classes, dataset.class_to_idx = dataset.wnids, dataset.wnid_to_idx
    else:
        if not split_dir.is_dir():
            raise AlexNetError(
                f"No {split} split at {split_dir}: an ImageNet-layout root holds {split}/<wnid>/*.JPEG "
                "(or the official ILSVRC-2012 archives). See data/README.md for where each dataset goes."
            )
        try:
            dataset = ImageFolder(split_dir, transform=transform, loader=load_rgb)
        except FileNotFoundError as err:  # no class folders, or a class folder without images
            raise AlexNetError(f"No images in {split_dir}: {err} Expected {split_dir}/<wnid>/*.JPEG.") from None
    names = {**dict(STANDIN_CLASSES), **_synset_words(root), **devkit_names}
    dataset.class_names = [names.get(wnid, wnid) for wnid in dataset.classes]
    if is_standin(root):
        dataset.source = "stand-in ImageNet (generated, NOT real photographs)"
    elif (root / "SOURCE").is_file():
        dataset.source = (root / "SOURCE").read_text().strip()
    else:
        dataset.source = "real ImageNet images"
    return dataset


def _synset_words(root: Path) -> dict[str, str]:
    """``wnid -> first name`` from Caffe's ``synset_words.txt`` ("n01440764 tench, Tinca tinca"), if present."""
    path = root / "synset_words.txt"
    if not path.is_file():
        return {}
    lines = (line.split(" ", 1) for line in path.read_text().splitlines() if line.strip())
    return {wnid: words.split(",")[0].strip() for wnid, words in lines}
