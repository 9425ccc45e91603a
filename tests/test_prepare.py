"""Paper §2 prepared store: every readable file as paper_preprocess makes it, odd files converted,
broken ones skipped by name, statistics equal to compute_dataset_stats, a kill survived, one-line CLI errors."""

from __future__ import annotations

import pickle
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from alexnet_lib.data.prepare import main as prepare_main
from alexnet_lib.data.prepare import prepare_imagenet
from alexnet_lib.data.store import open_prepared, prepared_root
from alexnet_lib.data.stats import compute_dataset_stats
from alexnet_lib.errors import AlexNetError
from alexnet_lib.preprocess import paper_preprocess, to_uint8_tensor
from clis import python_m, waiting_on

WNIDS = ["n01440764", "n02102040", "n02979186"]
SIZE = 32  # stored side in these tests (the paper's 256 costs time and tests nothing more)
BROKEN = ["train/n02102040/truncated.JPEG", "train/n02979186/empty.JPEG"]


def smooth_image(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photograph-like image (smooth colour gradients, a little noise), so JPEG stays close to it.
    A big one is drawn at a quarter of its size or less, then enlarged (quicker, and still smooth)."""
    scale = max(1, max(width, height) // 128)
    u, v = np.meshgrid(np.linspace(0, 1, width // scale), np.linspace(0, 1, height // scale))
    a, b, c = rng.uniform(0, 255, (3, 1, 1, 3))
    pixels = a * u[..., None] + b * v[..., None] + c * (1 - u[..., None]) * v[..., None]
    pixels = pixels / 2 + rng.normal(0, 4, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)


def write_source(root: Path, train_per_class: int, val_per_class: int, sizes, odd: bool) -> Path:
    """An ImageNet-layout root; with ``odd``, like real ImageNet it also holds a greyscale JPEG, a CMYK
    JPEG and a PNG named .JPEG (all readable), plus a truncated JPEG and an empty file (not readable)."""
    rng = np.random.default_rng(0)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for k, wnid in enumerate(WNIDS):
            (root / split / wnid).mkdir(parents=True)
            for i in range(count):
                img = smooth_image(rng, *sizes[(k + i) % len(sizes)])
                img.save(root / split / wnid / f"{wnid}_{i}.JPEG", quality=95)
    if odd:
        train = root / "train"
        smooth_image(rng, 50, 40).convert("L").save(train / WNIDS[0] / "grey.JPEG")
        smooth_image(rng, 40, 60).convert("CMYK").save(train / WNIDS[1] / "cmyk.JPEG")
        smooth_image(rng, 45, 45).save(train / WNIDS[2] / "png.JPEG", format="PNG")
        whole = (train / WNIDS[0] / f"{WNIDS[0]}_0.JPEG").read_bytes()
        (root / BROKEN[0]).write_bytes(whole[: len(whole) // 2])
        (root / BROKEN[1]).write_bytes(b"")
    return root


def readable_files(root: Path, split: str) -> list[tuple[Path, int]]:
    """(file, label) of a split's readable files in ImageFolder's order: sorted classes, then files."""
    wnids = sorted(p.name for p in (root / split).iterdir())
    files = [(path, label) for label, wnid in enumerate(wnids) for path in sorted((root / split / wnid).iterdir())]
    return [(path, label) for path, label in files if str(path.relative_to(root)) not in BROKEN]


def reference(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The readable files opened by PIL, converted to RGB, rescaled and centre-cropped: N×3×S×S, labels."""
    files = readable_files(root, split)
    images = [to_uint8_tensor(paper_preprocess(Image.open(path).convert("RGB"), SIZE)) for path, _ in files]
    return torch.stack(images), torch.tensor([label for _, label in files])


@pytest.fixture(scope="module")
def odd_root(tmp_path_factory):
    return write_source(tmp_path_factory.mktemp("odd"), 4, 2, [(40, 30), (30, 52), (64, 64), (33, 90)], odd=True)


@pytest.fixture(scope="module")
def raw_store(odd_root, tmp_path_factory):
    return prepare_imagenet(
        odd_root, tmp_path_factory.mktemp("raw"), format="raw", size=SIZE, chunk_size=5, workers=1, progress=False
    )


def test_raw_store_holds_every_readable_file_exactly_as_paper_preprocess_makes_it(odd_root, raw_store):
    for split in ("train", "val"):
        images, labels = reference(odd_root, split)
        stored = raw_store.split(split)
        assert len(stored) == len(labels) == (15 if split == "train" else 6)  # 4 + 1 odd per class
        assert torch.equal(stored.labels, labels)
        assert torch.equal(stored.read(range(len(stored))), images)
    assert raw_store.classes == WNIDS and raw_store.source == "real ImageNet images"


def test_odd_files_are_converted_and_broken_ones_reported_by_name(odd_root, tmp_path, capfd):
    store = prepare_imagenet(odd_root, tmp_path, size=SIZE, chunk_size=5, workers=2, progress=False)
    reported = capfd.readouterr().err
    listed = (tmp_path / "skipped.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in listed] == BROKEN
    for name in BROKEN:
        assert f"skipped {name}: " in reported
    assert store.split_sizes["train"] == {"images": 15, "skipped": 2, "shards": 4}
    images, labels = reference(odd_root, "train")
    odd = [i for i, (path, _) in enumerate(readable_files(odd_root, "train")) if path.stem in ("grey", "cmyk", "png")]
    stored = store.split("train").read(odd)
    assert stored.shape == (3, 3, SIZE, SIZE) and torch.equal(store.split("train").labels, labels)
    assert (stored.int() - images[odd].int()).abs().float().mean() < 2  # JPEG q90 of the exact image
    assert torch.equal(stored[0, 0], stored[0, 1])  # the greyscale file, copied into R, G and B


def test_jpeg_store_is_smaller_and_close_to_the_exact_images(odd_root, raw_store, tmp_path):
    jpeg = prepare_imagenet(odd_root, tmp_path, size=SIZE, chunk_size=5, workers=1, progress=False)
    exact, decoded = raw_store.split("val").read(range(6)), jpeg.split("val").read(range(6))
    assert decoded.shape == exact.shape and decoded.dtype == torch.uint8
    assert (decoded.int() - exact.int()).abs().float().mean() < 2
    raw_bytes = sum(p.stat().st_size for p in (raw_store.path / "val").glob("*.raw"))
    assert raw_bytes == 6 * 3 * SIZE * SIZE
    assert sum(p.stat().st_size for p in (tmp_path / "val").glob("*.jpeg")) < raw_bytes / 3


def test_read_takes_any_indices_and_a_split_pickles_into_dataloader_workers(raw_store):
    split = raw_store.split("train")
    everything = split.read(range(len(split)))
    assert torch.equal(split.read([14, 0, 0, 7]), everything[[14, 0, 0, 7]])
    assert split.read([]).shape == (0, 3, SIZE, SIZE)
    image, label = split[3]
    assert torch.equal(image, everything[3]) and label == split.labels[3]
    assert everything.is_contiguous(memory_format=torch.channels_last)

    copy = pickle.loads(pickle.dumps(split))
    loader = DataLoader(copy, sampler=BatchSampler(SequentialSampler(copy), 4, False), batch_size=None, num_workers=2)
    batches = list(loader)
    assert torch.equal(torch.cat([x for x, _ in batches]), everything)
    assert torch.equal(torch.cat([y for _, y in batches]), split.labels)


def test_statistics_equal_compute_dataset_stats_on_the_source(standin_root, tmp_path):
    """Per-chunk sums added up (chunks of 7 images, 2 processes) = one pass over the source: exactly."""
    root = standin_root / "imagenet"
    store = prepare_imagenet(root, tmp_path, size=64, chunk_size=7, workers=2, progress=False)
    expected = compute_dataset_stats(root, "train", size=64, batch_size=16)
    assert store.stats.num_images == expected.num_images == 120
    for name in ("mean_image", "rgb_mean", "rgb_covariance", "eigenvalues", "eigenvectors"):
        assert torch.equal(getattr(store.stats, name), getattr(expected, name)), name
    assert "stand-in" in store.source and store.class_names[0] == "tench"


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(*args: str) -> subprocess.Popen:
    return python_m("alexnet_lib.data.prepare", *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_killed_prepare_continues_where_it_stopped_and_ends_with_the_same_store(tmp_path):
    """kill -9 once the first chunk has landed, while the second waits for an image that never comes;
    run again: the finished chunk is not redone, and the store is byte for byte the one of an
    uninterrupted run (which used 2 worker processes instead of 1)."""
    root = write_source(tmp_path / "source", 8, 1, [(128, 96), (96, 120)], odd=False)
    args = ["--source", str(root), "--size", str(SIZE), "--chunk-size", "2", "--quality", "85"]
    killed = tmp_path / "killed"
    first_record = killed / "_work" / "train" / "00000.pt"
    with waiting_on(readable_files(root, "train")[2][0]):  # the second chunk's first image
        process = cli(*args, "--out", str(killed), "--workers", "1")
        deadline = time.monotonic() + 120
        while not first_record.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert sorted(p.name for p in (killed / "_work").rglob("*.pt")) == ["00000.pt"], process.stderr.read()
    assert not (killed / "meta.json").exists()
    first_shard = (killed / "train" / "00000.jpeg").stat()

    clean, rerun = (cli(*args, "--out", str(tmp_path / "clean"), "--workers", "2"),
                    cli(*args, "--out", str(killed), "--workers", "1"))
    assert rerun.wait() == 0, rerun.stderr.read()
    assert (killed / "train" / "00000.jpeg").stat().st_mtime_ns == first_shard.st_mtime_ns  # not redone
    assert clean.wait() == 0, clean.stderr.read()
    assert "_work" not in {p.name for p in killed.iterdir()}
    assert tree(killed) == tree(tmp_path / "clean")


def test_cli_errors_are_one_line(odd_root, tmp_path, capsys):
    """A bad flag (status 2), a missing source, an output folder that cannot be made (status 1)."""
    (tmp_path / "file").write_text("a file, not a folder")
    cases = [
        (["--source", str(odd_root), "--format", "png"], 2, "invalid choice: 'png'"),
        (["--source", "/nonexistent/imagenet"], 1, "No train split at /nonexistent/imagenet/train"),
        (["--source", str(odd_root), "--out", str(tmp_path / "file" / "store")], 1, "Cannot write the store to"),
    ]
    for args, status, says in cases:
        with pytest.raises(SystemExit) as exit:
            prepare_main([*args, "--size", str(SIZE)])
        code = exit.value.code  # sys.exit("message"): the process prints it and exits with 1
        err = capsys.readouterr().err if isinstance(code, int) else code
        assert (code if isinstance(code, int) else 1) == status
        assert len(err.strip().splitlines()) == 1 and says in err and err.startswith(
            "python -m alexnet_lib.data.prepare: error: " if status == 2 else "error: "), err


def test_a_complete_store_is_kept_and_other_settings_need_force(odd_root, tmp_path):
    kwargs = dict(size=SIZE, chunk_size=50, workers=1, progress=False)
    prepare_imagenet(odd_root, tmp_path, **kwargs)
    stamp = (tmp_path / "meta.json").stat().st_mtime_ns
    prepare_imagenet(odd_root, tmp_path, **kwargs)
    assert (tmp_path / "meta.json").stat().st_mtime_ns == stamp
    with pytest.raises(AlexNetError, match="format 'jpeg' -> 'raw'.*--force"):
        prepare_imagenet(odd_root, tmp_path, **kwargs, format="raw")
    store = prepare_imagenet(odd_root, tmp_path, **kwargs, format="raw", force=True)
    assert store.format == "raw" and sorted(p.name for p in (tmp_path / "val").iterdir()) == [
        "00000.raw", "labels.npy", "positions.npy",
    ]  # fmt: skip


def test_a_missing_store_says_which_command_makes_it(tmp_path):
    with pytest.raises(AlexNetError, match=r"python -m alexnet_lib.data.prepare .*--out"):
        open_prepared(tmp_path)


def test_prepared_root_per_profile(empty_data_root):
    assert prepared_root("smoke") == empty_data_root / "prepared" / "standin"
    assert prepared_root("paper") == empty_data_root / "prepared" / "ilsvrc2012"
