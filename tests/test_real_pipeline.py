"""The real-image pipeline of the culminating run: Fashion-MNIST in ImageNet's layout (exact pixels,
label order, its names), the ALEXNET_IMAGENET switch, prepare -> train -> evaluate on it, the held-out
sample, lighting on greyscale statistics, a damaged store found when it is opened, and the
experiment's Student-t interval."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from alexnet_lib.augment import lighting_lambdas
from alexnet_lib.config import get_profile, native_bf16
from alexnet_lib.data.batches import held_out_sample
from alexnet_lib.data.fashion_mnist import FILES, DEBIAN_DIR, layout_classes, load_fashion_mnist, write_imagenet_layout
from alexnet_lib.data.imagenet import imagenet_folder, imagenet_root
from alexnet_lib.data.prepare import prepare_imagenet
from alexnet_lib.data.stats import rgb_covariance, rgb_eigen
from alexnet_lib.data.store import open_prepared, prepared_root
from alexnet_lib.errors import AlexNetError
from alexnet_lib.evaluate import evaluate_checkpoint
from alexnet_lib.experiments.summary import t_interval
from alexnet_lib.recipe import make_config
from alexnet_lib.train import main as train_main
from alexnet_lib.train import train

needs_debian = pytest.mark.skipif(
    not all((DEBIAN_DIR / f"{name}.gz").is_file() for name in FILES),
    reason=f"Debian's Fashion-MNIST is not installed in {DEBIAN_DIR} (apt-get install dataset-fashion-mnist)",
)
PER_CLASS = 6  # a copy of 6 images per class and split: 120 files


@pytest.fixture(scope="module")
def fashion_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("fm")
    return root, write_imagenet_layout(root / "fashion-mnist" / "imagenet", root, per_class=PER_CLASS)


@pytest.fixture(scope="module")
def fashion_store(fashion_layout):
    _, layout = fashion_layout
    return prepare_imagenet(layout, layout.parent / "store", workers=1, format="raw", progress=False)


@needs_debian
def test_the_layout_holds_the_first_images_of_each_class_with_their_exact_pixels(fashion_layout):
    root, layout = fashion_layout
    for split, train_split in (("train", True), ("val", False)):
        source = load_fashion_mnist(root, train=train_split)
        folder = imagenet_folder(layout, split)
        assert folder.classes == layout_classes(source.classes)  # sorted by name = label order
        assert folder.class_names == source.classes  # from synset_words.txt: "T-shirt/top", ...
        assert len(folder) == 10 * PER_CLASS and folder.source.startswith("real Fashion-MNIST")
        labels = source.labels.numpy()
        for path, label in folder.samples[::7]:
            index = int(path.rsplit("_", 1)[1].split(".")[0])
            assert labels[index] == label
            assert index in np.flatnonzero(labels == label)[:PER_CLASS]
            assert np.array_equal(np.asarray(Image.open(path)), source.images[index, 0].numpy())


def test_alexnet_imagenet_switches_the_profiles_imagenet_and_nothing_else(monkeypatch, empty_data_root):
    monkeypatch.setenv("ALEXNET_IMAGENET", "fashion-mnist")
    profile = get_profile("paper")
    assert (profile.name, profile.imagenet, profile.small_dataset) == ("paper", "fashion-mnist", "cifar10")
    assert prepared_root(profile) == empty_data_root / "prepared" / "fashion-mnist"
    with pytest.raises(AlexNetError, match="python -m alexnet_lib.data.fashion_mnist --imagenet"):
        imagenet_root(profile)
    monkeypatch.setenv("ALEXNET_IMAGENET", "mnist")
    with pytest.raises(AlexNetError, match="Unknown ALEXNET_IMAGENET='mnist': use one of standin, imagenette"):
        get_profile()


@needs_debian
def test_prepare_train_evaluate_run_unchanged_on_the_layout(fashion_store, tmp_path):
    store = open_prepared(fashion_store.path)
    assert store.split_sizes["train"]["images"] == 60 and store.stats.mean_image.shape == (3, 256, 256)
    # greyscale: R = G = B, so one principal component, along (1, 1, 1) / sqrt(3)
    assert torch.allclose(store.stats.eigenvectors[:, 0].abs(), torch.full((3,), 3 ** -0.5, dtype=torch.float64))
    config = make_config(profile="paper", model="mini", data=str(fashion_store.path), out=str(tmp_path / "run"),
                         epochs=1, batch_size=8, progress=False)
    history = train(config)
    assert len(history) == 1 and math.isfinite(history[0]["train_loss"])
    errors, info = evaluate_checkpoint(tmp_path / "run" / "checkpoint.pt", views=(1, 10), images=20)
    assert info["images"] == 20 and set(errors) == {1, 10}


def test_lighting_on_greyscale_statistics_is_finite_and_moves_only_brightness():
    grey = torch.randint(0, 256, (20, 1, 16, 16), dtype=torch.uint8).expand(-1, 3, -1, -1)
    eigenvalues, _ = rgb_eigen(rgb_covariance([grey])[1])
    lambdas = lighting_lambdas(eigenvalues)
    assert torch.isfinite(lambdas).all()
    assert lambdas[0] == pytest.approx(math.sqrt(eigenvalues.max().item())) and lambdas[1:].abs().max() < 1e-5


def test_held_out_sample_is_fixed_sorted_and_spread_over_a_class_by_class_listing():
    sample = held_out_sample(10_000, 500)
    assert sample == held_out_sample(10_000, 500) and sample == sorted(set(sample)) and len(sample) == 500
    classes = np.asarray(sample) // 1000  # a listing of 10 classes of 1,000, one after the other
    assert np.bincount(classes, minlength=10).min() >= 30
    assert held_out_sample(7) == held_out_sample(7, 100) == list(range(7))


def damage(store_path, tmp_path, how):
    copy = tmp_path / "copy"
    shutil.copytree(store_path, copy)
    shard = copy / "train" / "00000.raw"
    if how == "truncated":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    elif how == "missing":
        shard.unlink()
    else:  # an index that does not match: labels of another store
        np.save(copy / "train" / "labels.npy", np.zeros(3, dtype=np.int64))
    return copy


@needs_debian
@pytest.mark.parametrize("how, said", [
    ("truncated", r"train/00000.raw has [\d,]+ bytes where its images need [\d,]+"),
    ("missing", r"train/00000.raw is missing"),
    ("index", r"train/labels.npy lists 3 images where meta.json says 60")])
def test_a_damaged_store_is_one_line_when_opened_by_train_and_evaluate(fashion_store, tmp_path, capsys, how, said):
    copy = damage(fashion_store.path, tmp_path, how)
    with pytest.raises(AlexNetError, match=f"The prepared store .* is damaged: {said}. Prepare it again"):
        open_prepared(copy)
    with pytest.raises(SystemExit) as exit_:
        train_main(["--model", "mini", "--data", str(copy), "--out", str(tmp_path / "run"), "--no-progress"])
    assert str(exit_.value).startswith("error: The prepared store") and "\n" not in str(exit_.value)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_native_bf16_is_off_under_an_older_cpus_kernels(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert native_bf16(torch.device("cpu")) is False


def test_t_interval_matches_a_hand_computed_student_t():
    # 0.1 and 0.2: mean 0.15, s.d. 0.0707, s.e. 0.05; t(0.975, 1 d.f.) = 12.7062
    two = t_interval([0.1, 0.2])
    assert two["interval"] == pytest.approx([0.15 - 12.7062 * 0.05, 0.15 + 12.7062 * 0.05], abs=1e-4)
    # 1, 2, 3: s.e. 1 / sqrt(3); t(0.975, 2 d.f.) = 4.3027
    three = t_interval([1.0, 2.0, 3.0])
    assert three["interval"] == pytest.approx([2 - 4.3027 / math.sqrt(3), 2 + 4.3027 / math.sqrt(3)], abs=1e-4)
    assert t_interval([0.3])["interval"] is None
