"""alexnet_lib.hosted: the profile a hosted notebook picks, what it says about the GPU, what it fetches."""

from __future__ import annotations

import os

import pytest

import alexnet_lib.hosted as hosted


@pytest.fixture
def fetched(monkeypatch):
    """set_up with the data functions replaced by a record of what it asked for."""
    calls = []
    monkeypatch.setattr(hosted, "make_standin", lambda: calls.append("standin"))
    monkeypatch.setattr(hosted, "ensure_fashion_mnist", lambda: calls.append("fashion-mnist"))
    monkeypatch.setattr(hosted, "download_dataset", lambda name: calls.append(name))
    monkeypatch.setattr(hosted, "imagenet_root", lambda profile, download: calls.append(f"imagenet:{profile.imagenet}"))
    monkeypatch.setattr(hosted, "banner", lambda profile: f"profile : {profile.name}")  # no GPU here to describe
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    return calls


@pytest.mark.parametrize(
    "gpu, asked, chosen, data, says",
    [
        (False, None, "smoke", ["standin", "fashion-mnist", "imagenet:standin"], "under the smoke profile (minutes)"),
        (True, None, "course", ["standin", "fashion-mnist", "cifar10", "imagenet:imagenette"], None),
        (False, "course", "course", ["standin", "fashion-mnist", "cifar10", "imagenet:imagenette"],
         "the course profile runs on the CPU, hours"),
        (True, "paper", "paper", ["standin", "fashion-mnist", "cifar10", "imagenet:ilsvrc2012"], None),
    ],
)
def test_set_up_picks_the_profile_says_whether_a_gpu_is_attached_and_fetches_its_data(
        fetched, monkeypatch, capsys, gpu, asked, chosen, data, says):
    monkeypatch.setattr(hosted.torch.cuda, "is_available", lambda: gpu)
    if asked:
        monkeypatch.setenv("ALEXNET_PROFILE", asked)
    assert hosted.set_up() == chosen
    assert os.environ["ALEXNET_PROFILE"] == chosen  # what the chapter's get_profile reads next
    assert fetched == data
    out = capsys.readouterr().out
    assert f"profile : {chosen}" in out
    if says:
        assert out.startswith("No GPU is attached: ") and says in out and "Runtime > Change runtime type" in out
    else:
        assert "No GPU" not in out
