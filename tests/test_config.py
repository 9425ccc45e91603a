"""Tests of alexnet_lib.config: profiles, paths shown on pages, seeding."""

import random

import pytest
import torch

from alexnet_lib.config import REPO_ROOT, banner, display_path, get_profile, seed_everything
from alexnet_lib.errors import AlexNetError


def test_unknown_profile_is_one_error_naming_the_valid_ones(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "fast")
    with pytest.raises(AlexNetError, match="smoke, course, paper"):
        get_profile()


def test_profile_defaults_to_smoke(monkeypatch):
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    assert get_profile().name == "smoke"
    assert get_profile(" Course ").name == "course"


def test_paths_inside_the_repo_are_shown_relative(tmp_path):
    assert display_path(REPO_ROOT / "data") == "data"
    assert display_path(tmp_path) == str(tmp_path)


def test_banner_shows_no_absolute_repo_path(monkeypatch):
    monkeypatch.delenv("ALEXNET_DATA", raising=False)
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    text = banner()
    assert "data    : data/\n" in text and str(REPO_ROOT) not in text


def test_seed_everything_repeats_python_and_torch_draws():
    seed_everything(3)
    first = (random.random(), torch.rand(3))
    seed_everything(3)
    second = (random.random(), torch.rand(3))
    assert first[0] == second[0] and torch.equal(first[1], second[1])
