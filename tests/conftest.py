"""Shared fixtures: a small generated stand-in, and an empty data root."""

from __future__ import annotations

import pytest

from alexnet_lib.data.standin import make_standin

@pytest.fixture(scope="session")
def small_standin():
    """Stand-in sizes that generate in about a second yet let a learnability test mean something."""
    return dict(train_per_class=12, val_per_class=4, cifar_train_per_batch=200, cifar_test=200)


@pytest.fixture(scope="session")
def standin_root(tmp_path_factory, small_standin):
    """A small stand-in (imagenet/ and cifar10/) generated once per test session."""
    return make_standin(tmp_path_factory.mktemp("standin"), **small_standin)


@pytest.fixture
def empty_data_root(tmp_path, monkeypatch):
    """ALEXNET_DATA pointed at an empty folder, so data_root() holds nothing."""
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path))
    return tmp_path
