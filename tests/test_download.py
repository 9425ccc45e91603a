"""Downloads and archives of the real datasets: the stand-in's format-exact archives, served locally."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from alexnet_lib.data import download
from alexnet_lib.data.cifar import load_cifar10
from alexnet_lib.data.imagenet import imagenet_folder, imagenet_root
from alexnet_lib.data.archives import ILSVRC, RangeHandler, serve, write_archives
from alexnet_lib.data.standin import MARKER, STANDIN_CLASSES, make_standin
from alexnet_lib.errors import AlexNetError


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    return make_standin(root, train_per_class=2, val_per_class=2, cifar_train_per_batch=20, cifar_test=10, workers=1)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory, standin):
    """A folder with the stand-in's archives and MD5SUMS, served over HTTP on 127.0.0.1."""
    folder = write_archives(tmp_path_factory.mktemp("mirror"), standin)
    with serve(folder) as url:
        yield folder, url


@pytest.fixture
def data(tmp_path, monkeypatch, mirror):
    monkeypatch.setenv("ALEXNET_DATA", str(tmp_path))
    monkeypatch.setenv(download.MIRROR, mirror[1])
    return tmp_path


def test_the_archives_have_the_real_files_layout(mirror):
    folder, _ = mirror
    with tarfile.open(folder / "cifar-10-python.tar.gz") as tar:
        names = set(tar.getnames())
    assert {f"cifar-10-batches-py/{n}" for n in ("data_batch_1", "data_batch_5", "test_batch", "batches.meta",
                                                 "readme.html")} <= names
    with tarfile.open(folder / "imagenette2-320.tgz") as tar:
        names = tar.getnames()
    assert "imagenette2-320/noisy_imagenette.csv" in names
    assert any(n.startswith(f"imagenette2-320/val/{STANDIN_CLASSES[0][0]}/") for n in names)
    sums = dict(reversed(line.split("  ")) for line in (folder / "MD5SUMS").read_text().splitlines())
    assert sums["imagenette2-320.tgz"] == hashlib.md5((folder / "imagenette2-320.tgz").read_bytes()).hexdigest()


def test_cifar10_and_imagenette_download_extract_and_load_and_say_they_are_the_stand_in(data):
    cifar = load_cifar10(download=True)
    assert cifar.images.shape == (100, 3, 32, 32) and "stand-in" in cifar.source
    assert (data / "downloads" / "cifar-10-python.tar.gz").is_file()
    root = imagenet_root("course", download=True)
    assert root == data / "imagenette"
    val = imagenet_folder(root, "val")
    assert val.classes == [wnid for wnid, _ in STANDIN_CLASSES] and len(val) == 20
    assert load_cifar10(download=True).images.shape == (100, 3, 32, 32)  # a second call reads what is there


def test_an_interrupted_download_continues_with_a_range_request(data, mirror):
    folder, base = mirror
    whole = (folder / "imagenette2-320.tgz").read_bytes()
    target = data / "downloads" / "imagenette2-320.tgz"
    target.parent.mkdir(parents=True)
    target.with_name(target.name + ".partial").write_bytes(whole[:1000])
    RangeHandler.requests.clear()
    download.fetch(f"{base}/imagenette2-320.tgz", target, hashlib.md5(whole).hexdigest(), progress=False)
    assert target.read_bytes() == whole
    assert RangeHandler.requests == [("/imagenette2-320.tgz", "bytes=1000-")]


def test_a_damaged_download_is_deleted_and_a_lost_connection_keeps_what_came(data, mirror):
    _, base = mirror
    target = data / "downloads" / "cifar-10-python.tar.gz"
    with pytest.raises(AlexNetError, match="is damaged .* it was deleted; run again"):
        download.fetch(f"{base}/cifar-10-python.tar.gz", target, "0" * 32, progress=False)
    assert not target.exists() and not target.with_name(target.name + ".partial").exists()
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(b"x" * 10)
    with pytest.raises(AlexNetError, match="Could not download .* the 10 bytes so far are kept"):
        download.fetch("http://127.0.0.1:9/cifar-10-python.tar.gz", target, progress=False, timeout=5)
    assert partial.read_bytes() == b"x" * 10


def test_an_archive_without_the_expected_folder_is_refused(tmp_path):
    archive = tmp_path / "other.tar"
    (tmp_path / "something").mkdir()
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "something", "something")
    with pytest.raises(AlexNetError, match="does not hold a folder cifar-10-batches-py/"):
        download.extract(archive, tmp_path / "out", "cifar-10-batches-py")
    assert not (tmp_path / "out").exists()


def test_the_ilsvrc_archives_read_as_the_real_ones_past_the_checksum(tmp_path, mirror, standin, monkeypatch):
    """torchvision's reader of the three ILSVRC-2012 files: it checks their MD5s against the real
    files' (so the copies fail, with our message), then parses the devkit, extracts the per-class
    tars and sorts the flat validation folder by the ground truth. Past the check, every image must
    land in its own class."""
    import torchvision.datasets.imagenet as tv_imagenet

    folder, _ = mirror
    for name in (*ILSVRC, MARKER):
        (tmp_path / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(AlexNetError, match="Cannot read the val split of ILSVRC-2012 .* is not present .* or is corrupted"):
        imagenet_folder(tmp_path, "val")
    sums = dict(reversed(line.split("  ")) for line in (folder / "MD5SUMS").read_text().splitlines())
    monkeypatch.setattr(tv_imagenet, "_verify_archive",
                        lambda root, file, md5: None if hashlib.md5((Path(root) / file).read_bytes()).hexdigest()
                        == sums[file] else pytest.fail(f"{file} is not the written archive"))
    wnids = [wnid for wnid, _ in STANDIN_CLASSES]
    for split, per_class in (("val", 2), ("train", 2)):
        dataset = imagenet_folder(tmp_path, split)
        assert dataset.classes == wnids and dataset.class_names[0] == "tench" and "stand-in" in dataset.source
        assert len(dataset) == per_class * len(wnids)
        originals = {p.read_bytes(): p.parent.name for p in (standin / "imagenet" / split).glob("*/*")}
        for path, label in dataset.samples:
            assert originals[Path(path).read_bytes()] == wnids[label]
