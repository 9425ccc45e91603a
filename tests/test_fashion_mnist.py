"""Real Fashion-MNIST from Debian's package: counts, classes and pixels equal to the idx files."""

from __future__ import annotations

import gzip
import re

import numpy as np
import pytest

from alexnet_lib.data import fashion_mnist, load_small_dataset
from alexnet_lib.data.fashion_mnist import DEBIAN_DIR, FILES, ensure_fashion_mnist, load_fashion_mnist
from alexnet_lib.errors import AlexNetError

# Zalando's label names (github.com/zalandoresearch/fashion-mnist), in label order.
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
]  # fmt: skip

needs_debian = pytest.mark.skipif(
    not all((DEBIAN_DIR / f"{name}.gz").is_file() for name in FILES),
    reason=f"Debian's Fashion-MNIST is not installed in {DEBIAN_DIR} (apt-get install dataset-fashion-mnist)",
)


def read_idx(path, header: int) -> np.ndarray:
    """The idx format by hand: a big-endian header of `header` bytes, then uint8 values."""
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


@pytest.fixture(scope="module")
def prepared_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fashion")
    ensure_fashion_mnist(root, download=False)
    return root


@needs_debian
def test_ensure_gunzips_debians_files_once(prepared_root):
    raw = prepared_root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILES)
    stamps = [(raw / name).stat().st_mtime_ns for name in FILES]
    assert ensure_fashion_mnist(prepared_root, download=False) == raw
    assert [(raw / name).stat().st_mtime_ns for name in FILES] == stamps


@needs_debian
@pytest.mark.parametrize("train, count, prefix", [(True, 60_000, "train"), (False, 10_000, "t10k")])
def test_counts_classes_and_pixels_equal_the_idx_files(prepared_root, train, count, prefix):
    data = load_fashion_mnist(prepared_root, train=train)
    assert len(data) == count and data.images.shape == (count, 1, 28, 28)
    assert data.classes == FASHION_NAMES and data.source.startswith("real Fashion-MNIST")
    images = read_idx(DEBIAN_DIR / f"{prefix}-images-idx3-ubyte.gz", header=16).reshape(count, 1, 28, 28)
    labels = read_idx(DEBIAN_DIR / f"{prefix}-labels-idx1-ubyte.gz", header=8)
    assert np.array_equal(data.images.numpy(), images) and np.array_equal(data.labels.numpy(), labels)
    assert np.bincount(labels).tolist() == [count // 10] * 10


@needs_debian
def test_smoke_profile_small_dataset_is_fashion_mnist(prepared_root, monkeypatch):
    monkeypatch.setenv("ALEXNET_DATA", str(prepared_root))
    assert len(load_small_dataset(train=False, profile="smoke")) == 10_000


def test_missing_data_says_apt_get_and_where(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian-package")
    with pytest.raises(AlexNetError) as err:
        ensure_fashion_mnist(tmp_path, download=False)
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message and "online" in message
    assert re.search(re.escape(str(tmp_path / "FashionMNIST" / "raw")), message)
