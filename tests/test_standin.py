"""The generated stand-in: real formats, real class ids, varied sizes, deterministic, learnable."""

from __future__ import annotations

import hashlib
import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from alexnet_lib.data.cifar import load_cifar10
from alexnet_lib.data.imagenet import imagenet_folder
from alexnet_lib.data import standin
from alexnet_lib.data.standin import STANDIN_CLASSES, make_standin
from alexnet_lib.errors import AlexNetError
from alexnet_lib.preprocess import paper_preprocess, to_uint8_tensor

# Imagenette's ten ILSVRC-2012 classes (github.com/fastai/imagenette), the reference for the stand-in's ids.
IMAGENETTE = {
    "n01440764": "tench", "n02102040": "English springer", "n02979186": "cassette player",
    "n03000684": "chain saw", "n03028079": "church", "n03394916": "French horn", "n03417042": "garbage truck",
    "n03425413": "gas pump", "n03445777": "golf ball", "n03888605": "parachute",
}  # fmt: skip
# The CIFAR-10 page's description of a batch file (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def unpickle(path: Path) -> dict:
    with open(path, "rb") as f:  # the reader the CIFAR-10 page gives
        return pickle.load(f, encoding="bytes")


def test_classes_are_real_ilsvrc_wnids_with_caffe_synset_words(standin_root):
    imagenet = standin_root / "imagenet"
    assert dict(STANDIN_CLASSES) == IMAGENETTE
    for split in ("train", "val"):
        assert sorted(p.name for p in (imagenet / split).iterdir()) == sorted(IMAGENETTE)
    lines = (imagenet / "synset_words.txt").read_text().splitlines()
    assert [line.split(" ", 1) for line in lines] == [[w, n] for w, n in STANDIN_CLASSES]


def test_image_counts_per_class(standin_root, small_standin):
    for split, count in (("train", small_standin["train_per_class"]), ("val", small_standin["val_per_class"])):
        for wnid in IMAGENETTE:
            files = list((standin_root / "imagenet" / split / wnid).iterdir())
            assert len(files) == count and all(f.suffix == ".JPEG" for f in files)


def test_sizes_and_aspect_ratios_vary(standin_root):
    sizes = [Image.open(p).size for p in (standin_root / "imagenet").rglob("*.JPEG")]
    shorter = [min(s) for s in sizes]
    aspect = [w / h for w, h in sizes]
    assert 160 <= min(shorter) and max(shorter) <= 400 and max(shorter) - min(shorter) > 150
    assert 0.6 <= min(aspect) < 0.8 and 1.5 < max(aspect) <= 1.8  # both portrait and landscape
    assert len(set(sizes)) > len(sizes) // 2


def test_greyscale_cmyk_and_png_files_exist_and_load_as_rgb(standin_root):
    odd = {}
    for path in (standin_root / "imagenet" / "train").rglob("*.JPEG"):
        with Image.open(path) as img:
            if img.format == "PNG" or img.mode != "RGB":
                odd["PNG" if img.format == "PNG" else img.mode] = path
    assert set(odd) == {"L", "CMYK", "PNG"}
    dataset = imagenet_folder(standin_root / "imagenet", "train")
    index = {Path(p): i for i, (p, _) in enumerate(dataset.samples)}
    for path in odd.values():
        img, label = dataset[index[path]]
        assert img.mode == "RGB" and dataset.classes[label] == path.parent.name


def test_generation_is_deterministic(standin_root, small_standin, tmp_path):
    again = make_standin(tmp_path / "again", **small_standin, workers=3)  # the same bytes from any number of processes
    assert tree_hash(again) == tree_hash(standin_root)
    other_seed = make_standin(tmp_path / "other", seed=1, **small_standin)
    assert tree_hash(other_seed) != tree_hash(standin_root)


def test_second_call_is_a_no_op_and_force_regenerates(tmp_path, monkeypatch):
    params = dict(train_per_class=1, val_per_class=1, cifar_train_per_batch=10, cifar_test=10)
    root = make_standin(tmp_path, **params)
    stamps = {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in root.rglob("*")}
    digest = tree_hash(root)
    generated, generate = [], standin._generate

    def counted(folder, *args):
        generated.append(folder.name)
        generate(folder, *args)

    monkeypatch.setattr(standin, "_generate", counted)
    make_standin(tmp_path, **params)
    assert generated == []  # nothing written, nothing touched:
    assert {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in root.rglob("*")} == stamps
    make_standin(tmp_path, force=True, **params)
    assert generated == ["imagenet", "cifar10"] and tree_hash(root) == digest  # written again, the same bytes
    make_standin(tmp_path, **{**params, "train_per_class": 2})  # other parameters: regenerated
    assert len(list((root / "imagenet" / "train" / "n01440764").iterdir())) == 2


def test_an_interrupted_generation_leaves_no_half_standin(tmp_path, monkeypatch):
    params = dict(train_per_class=1, val_per_class=1, cifar_train_per_batch=10, cifar_test=10)

    def interrupted(folder, *args):  # Ctrl-C halfway through the CIFAR-10 batches
        (folder / "cifar-10-batches-py").mkdir(parents=True)
        (folder / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(standin, "_write_cifar", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_standin(tmp_path, **params)
    assert not (tmp_path / "cifar10").exists() and (tmp_path / "cifar10.partial").exists()
    monkeypatch.undo()
    make_standin(tmp_path, **params)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10", "imagenet"]


def test_refuses_to_overwrite_data_it_did_not_generate(tmp_path):
    (tmp_path / "imagenet" / "train").mkdir(parents=True)
    (tmp_path / "imagenet" / "train" / "mine.JPEG").write_bytes(b"precious")
    with pytest.raises(AlexNetError, match="refusing to overwrite"):
        make_standin(tmp_path, train_per_class=1, val_per_class=1, cifar_train_per_batch=10, cifar_test=10)
    assert (tmp_path / "imagenet" / "train" / "mine.JPEG").read_bytes() == b"precious"


def test_cifar_batches_have_the_real_keys_shapes_and_meta(standin_root, small_standin):
    batches = standin_root / "cifar10" / "cifar-10-batches-py"
    names = [f"data_batch_{b}" for b in range(1, 6)] + ["test_batch"]
    assert sorted(p.name for p in batches.iterdir()) == sorted(names + ["batches.meta"])
    for name in names:
        batch = unpickle(batches / name)
        n = small_standin["cifar_test" if name == "test_batch" else "cifar_train_per_batch"]
        assert list(batch) == [b"batch_label", b"labels", b"data", b"filenames"]
        assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (n, 3072)
        assert len(batch[b"labels"]) == n and set(batch[b"labels"]) == set(range(10))
        assert all(type(y) is int for y in batch[b"labels"])
        assert len(batch[b"filenames"]) == n and all(isinstance(f, bytes) for f in batch[b"filenames"])
    assert unpickle(batches / "data_batch_2")[b"batch_label"] == b"training batch 2 of 5"
    assert unpickle(batches / "test_batch")[b"batch_label"] == b"testing batch 1 of 1"
    meta = unpickle(batches / "batches.meta")
    per_batch = small_standin["cifar_train_per_batch"]
    assert meta == {b"num_cases_per_batch": per_batch, b"label_names": CIFAR_NAMES, b"num_vis": 3072}


def test_cifar_strings_are_python2_str_like_the_real_files(standin_root, small_standin):
    """Real batches were pickled by Python 2: latin1 decoding (torchvision's) gives str keys."""
    with open(standin_root / "cifar10" / "cifar-10-batches-py" / "data_batch_1", "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    assert list(batch) == ["batch_label", "labels", "data", "filenames"]
    assert batch["data"].shape == (small_standin["cifar_train_per_batch"], 3072)


def test_cli_says_where_it_wrote_and_what(tmp_path, capsys, monkeypatch, small_standin):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path))
    cifar_sizes = {k: v for k, v in small_standin.items() if k.startswith("cifar")}
    monkeypatch.setattr(standin, "make_standin", partial(make_standin, **cifar_sizes))  # not the full size
    standin.main(["--train-per-class", "12", "--val-per-class", "4", "--workers", "2"])
    out = capsys.readouterr().out
    assert str(tmp_path / "standin") in out and "NOT real" in out and "12 train + 4 val" in out
    assert tree_hash(tmp_path / "standin") == tree_hash(make_standin(tmp_path / "one", **small_standin, workers=1))


def tiny_cnn_accuracy(train_x, train_y, test_x, test_y, epochs=25) -> float:
    """Accuracy of a seeded two-layer CNN (global average pooling, so position does not matter)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, test_x = train_x.float() / 255 - 0.5, test_x.float() / 255 - 0.5
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(32):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), train_y[idx]).backward()
            optimizer.step()
    with torch.no_grad():
        return (model(test_x).argmax(1) == test_y).float().mean().item()


def test_standin_imagenet_is_learnable(standin_root):
    """After the paper's 256 rescale and centre crop, shrunk to 32×32: far above 10% chance."""

    def to_small(img):
        return to_uint8_tensor(paper_preprocess(img).resize((32, 32), Image.BILINEAR))

    def load(split):
        pairs = list(imagenet_folder(standin_root / "imagenet", split, transform=to_small))
        return torch.stack([x for x, _ in pairs]), torch.tensor([y for _, y in pairs])

    assert tiny_cnn_accuracy(*load("train"), *load("val")) >= 0.5


def test_standin_cifar_is_learnable(standin_root):
    train, test = load_cifar10(standin_root / "cifar10"), load_cifar10(standin_root / "cifar10", train=False)
    assert tiny_cnn_accuracy(train.images, train.labels, test.images, test.labels, epochs=4) >= 0.5
