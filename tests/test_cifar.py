"""Our CIFAR-10 reader: same pixels as the file layout and as torchvision's parser, stand-in or real."""

from __future__ import annotations

import pickle
import re
import shutil

import numpy as np
import pytest
import torch
import torchvision

from alexnet_lib.data.arrays import ImageArrays
from alexnet_lib.data.cifar import load_cifar10
from alexnet_lib.errors import AlexNetError

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_standin_loads_as_uint8_arrays_and_says_so(standin_root, small_standin):
    train = load_cifar10(standin_root / "cifar10")
    test = load_cifar10(standin_root / "cifar10", train=False)
    assert train.images.shape == (5 * small_standin["cifar_train_per_batch"], 3, 32, 32)
    assert test.images.shape == (small_standin["cifar_test"], 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    assert train.classes == CIFAR_NAMES
    assert torch.bincount(test.labels).tolist() == [small_standin["cifar_test"] // 10] * 10
    assert "stand-in" in train.source and "NOT" in train.source


def test_pixels_follow_the_row_major_rgb_plane_layout(standin_root):
    """The CIFAR-10 page: 1024 red values, then 1024 green, then 1024 blue, each row-major."""
    with open(standin_root / "cifar10" / "cifar-10-batches-py" / "data_batch_3", "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    train = load_cifar10(standin_root / "cifar10")
    first = 2 * len(batch[b"labels"])  # batch 3 starts after batches 1 and 2
    row, image = batch[b"data"][7], train.images[first + 7].numpy()
    y, x = 4, 9
    assert [image[c, y, x] for c in range(3)] == [row[c * 1024 + y * 32 + x] for c in range(3)]
    assert train.labels[first + 7] == batch[b"labels"][7]


def test_matches_torchvisions_own_parser(standin_root, monkeypatch):
    """torchvision's CIFAR10 (latin1 unpickling, HWC layout), with its md5 check switched off."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    for train in (True, False):
        reference = torchvision.datasets.CIFAR10(standin_root / "cifar10", train=train)
        ours = load_cifar10(standin_root / "cifar10", train=train)
        assert np.array_equal(ours.images.permute(0, 2, 3, 1).numpy(), reference.data)
        assert ours.labels.tolist() == reference.targets and ours.classes == reference.classes


def test_without_the_standin_marker_it_is_called_real(standin_root, tmp_path):
    shutil.copytree(standin_root / "cifar10" / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    assert load_cifar10(tmp_path, train=False).source.startswith("real CIFAR-10")


def test_missing_data_says_where_and_how(empty_data_root):
    with pytest.raises(AlexNetError) as err:
        load_cifar10()
    message = str(err.value)
    assert str(empty_data_root / "cifar10" / "cifar-10-batches-py") in message
    assert "download=True" in message and "python -m alexnet_lib.data.standin" in message


def test_missing_batch_file_is_named(standin_root, tmp_path):
    shutil.copytree(standin_root / "cifar10" / "cifar-10-batches-py", tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(AlexNetError, match=re.escape(str(tmp_path / "cifar-10-batches-py" / "data_batch_4"))):
        load_cifar10(tmp_path)


def test_failed_download_is_an_alexnet_error(tmp_path, monkeypatch):
    """Downloading is `alexnet_lib.data.download`'s (tests/test_download.py); offline, one clear error."""
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path))
    monkeypatch.setenv("ALEXNET_DOWNLOAD_FROM", "http://127.0.0.1:9")
    with pytest.raises(AlexNetError, match="has no readable MD5SUMS"):
        load_cifar10(tmp_path, download=True)


def test_image_arrays_reject_what_they_cannot_hold():
    with pytest.raises(ValueError, match="uint8"):
        ImageArrays(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.int64), CIFAR_NAMES, "test")
    with pytest.raises(ValueError, match="2 int64 values"):
        ImageArrays(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), CIFAR_NAMES, "x")
