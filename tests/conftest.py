"""Shared fixtures: small generated stand-ins, a tiny prepared store, and an empty data root."""

from __future__ import annotations

import pytest

from alexnet_lib.data.prepare import prepare_imagenet
from alexnet_lib.data.standin import make_standin

@pytest.fixture(scope="session")
def small_standin():
    """Stand-in sizes that generate in about a second yet let a learnability test mean something."""
    return dict(train_per_class=12, val_per_class=4, cifar_train_per_batch=200, cifar_test=200)


@pytest.fixture(scope="session")
def standin_root(tmp_path_factory, small_standin):
    """A small stand-in (imagenet/ and cifar10/) generated once per test session."""
    return make_standin(tmp_path_factory.mktemp("standin"), **small_standin)


@pytest.fixture(scope="session")
def tiny_standin(tmp_path_factory):
    """The smallest stand-in: 10 classes x (2 train + 1 val) JPEGs, CIFAR-10 batches of 10 images."""
    return make_standin(tmp_path_factory.mktemp("tiny"), train_per_class=2, val_per_class=1,
                        cifar_train_per_batch=10, cifar_test=10)


@pytest.fixture(scope="session")
def tiny_store(tiny_standin):
    """``tiny_standin``'s ImageNet prepared as a store (raw: nothing to decode)."""
    return prepare_imagenet(tiny_standin / "imagenet", tiny_standin / "store", workers=1,
                            format="raw", progress=False).path


@pytest.fixture
def empty_data_root(tmp_path, monkeypatch):
    """ALEXNET_DATA pointed at an empty folder, so data_root() holds nothing."""
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path))
    return tmp_path
