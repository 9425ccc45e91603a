"""ImageNet-layout folders: where each profile's data lives, RGB loading, class names, clear errors."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from alexnet_lib.config import get_profile
from alexnet_lib.data.imagenet import imagenet_folder, imagenet_root
from alexnet_lib.errors import AlexNetError


def write_images(root: Path, split: str, wnids: list[str], per_class: int = 1) -> None:
    for wnid in wnids:
        (root / split / wnid).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20 + i, 10), (i, 0, 0)).save(root / split / wnid / f"{wnid}_{i}.JPEG")


@pytest.mark.parametrize(
    "profile, folder, fix",
    [
        ("smoke", "standin/imagenet", "python -m alexnet_lib.data.standin"),
        ("course", "imagenette", "imagenette2-320.tgz"),
        ("paper", "imagenet", "ILSVRC2012_img_train.tar"),
    ],
)
def test_imagenet_root_per_profile_and_missing_data_says_where_and_how(empty_data_root, profile, folder, fix):
    expected = empty_data_root / folder
    with pytest.raises(AlexNetError) as err:
        imagenet_root(profile)
    assert str(expected) in str(err.value) and fix in str(err.value)
    expected.mkdir(parents=True)
    assert imagenet_root(get_profile(profile)) == expected


def test_imagenet_root_with_download_generates_a_missing_standin(empty_data_root):
    root = imagenet_root("smoke", download=True)  # what `prepare` calls by default
    assert root == empty_data_root / "standin" / "imagenet"
    val = imagenet_folder(root, "val")
    assert len(val) == 10 * 10 and "stand-in" in val.source  # make_standin's default: 10 val images a class


def test_standin_folder_has_wnids_names_and_says_it_is_a_standin(standin_root, small_standin):
    dataset = imagenet_folder(standin_root / "imagenet", "val")
    assert len(dataset) == 10 * small_standin["val_per_class"]
    assert dataset.classes == sorted(dataset.classes) and dataset.classes[0] == "n01440764"
    assert dataset.class_names[0] == "tench" and dataset.class_names[-1] == "parachute"
    assert "stand-in" in dataset.source and "NOT" in dataset.source


def test_items_are_rgb_images_and_transform_is_applied(standin_root):
    plain = imagenet_folder(standin_root / "imagenet", "train")
    img, label = plain[0]
    assert isinstance(img, Image.Image) and img.mode == "RGB" and label == 0
    sized = imagenet_folder(standin_root / "imagenet", "train", transform=lambda im: im.size)
    assert sized[5][0] == plain[5][0].size


def test_dataset_pickles_so_dataloader_workers_can_use_it(standin_root):
    dataset = imagenet_folder(standin_root / "imagenet", "val")
    copy = pickle.loads(pickle.dumps(dataset))
    assert (copy.samples, copy.classes, copy.class_names, copy.source) == (
        dataset.samples, dataset.classes, dataset.class_names, dataset.source)
    (image, label), (copied, copied_label) = dataset[7], copy[7]
    assert copied.mode == "RGB" and copied.tobytes() == image.tobytes() and copied_label == label


def test_class_names_from_synset_words_else_known_names_else_wnid(tmp_path):
    write_images(tmp_path, "train", ["n01440764", "n09999999", "n09999998"])
    assert imagenet_folder(tmp_path).class_names == ["tench", "n09999998", "n09999999"]
    (tmp_path / "synset_words.txt").write_text("n09999998 thing one, first thing\nn09999999 thing two\n")
    dataset = imagenet_folder(tmp_path)
    assert dataset.class_names == ["tench", "thing one", "thing two"]
    assert dataset.source == "real ImageNet images"


def test_missing_or_empty_split_is_an_error_naming_the_path(tmp_path):
    with pytest.raises(AlexNetError, match=re.escape(str(tmp_path / "val"))):
        imagenet_folder(tmp_path, "val")
    (tmp_path / "val").mkdir()
    with pytest.raises(AlexNetError, match=re.escape(f"No images in {tmp_path / 'val'}")):
        imagenet_folder(tmp_path, "val")
    (tmp_path / "val" / "n01440764").mkdir()
    with pytest.raises(AlexNetError, match="n01440764"):  # a class folder without images
        imagenet_folder(tmp_path, "val")


def test_official_layout_is_read_through_torchvision_with_devkit_names(tmp_path):
    """torchvision's parse of the devkit (meta.bin: wnid -> synonyms) stands in for the real devkit."""
    wnid_to_names = {"n01440764": ("tench", "Tinca tinca"), "n01443537": ("goldfish", "Carassius auratus")}
    torch.save((wnid_to_names, ["n01443537"]), tmp_path / "meta.bin")
    write_images(tmp_path, "train", list(wnid_to_names), per_class=2)
    dataset = imagenet_folder(tmp_path, "train")
    assert dataset.classes == ["n01440764", "n01443537"]
    assert dataset.class_names == ["tench", "goldfish"]
    assert len(dataset) == 4 and dataset[3][0].mode == "RGB" and dataset[3][1] == 1
    with pytest.raises(AlexNetError, match="ILSVRC2012_img_val.tar"):  # no val folder, no val archive
        imagenet_folder(tmp_path, "val")
