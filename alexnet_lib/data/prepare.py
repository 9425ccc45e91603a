"""Paper §2: ImageNet prepared once: every image at 256×256, stored compactly, with its statistics.

"We down-sampled the images to a fixed resolution of 256×256" and subtracted "the mean activity over
the training set". Decoding ILSVRC-2012's 1.28M full-size JPEGs and rescaling them takes hours, so it
is done once: `prepare_imagenet` turns an ImageNet-layout root (folders, or the official archives that
`imagenet_folder` unpacks) into a *store* of §2's images (`paper_preprocess`: RGB, shorter side 256,
central crop) and the training set's `DatasetStats` (mean image, RGB covariance and its eigenvectors
for §4.1's PCA lighting). Training then reads 256×256 images and never touches the originals.

Command line::

    python -m alexnet_lib.data.prepare [--source ROOT] [--out DIR] [--workers N] [--format jpeg|raw]
                                       [--quality 90] [--size 256] [--chunk-size 1024] [--force]

Storage. A split is cut into chunks of ``chunk_size`` consecutive files (1,024 by default); chunk k
becomes one *shard* file ``<split>/<k>.jpeg`` (or ``.raw``), its images' bytes one after the other, so
a store is a few thousand files, not 1.3 million, and reading an image is one ``pread`` at a known
offset (``<split>/positions.npy``: shard, offset, length of each image; ``labels.npy``: its class).
Two formats, measured by ``benchmarks/prepare.py`` (benchmarks/README.md; per CPU-second of one
process, which other processes on a shared machine do not change):

==========  ===========================  ===================  ====================================
format      bytes per image              ILSVRC-2012 train    read + decode a batch, per CPU-second
==========  ===========================  ===================  ====================================
``jpeg``    13,067 (stand-in),           ~22 GB               ~3,700 img/s
            16,864 (real photographs)
``raw``     196,608 (256×256×3)          252 GB               ~16,000-37,000 img/s (a copy)
==========  ===========================  ===================  ====================================

``jpeg`` (quality 90, PIL's 4:2:0 chroma subsampling; 1.8-1.9 levels of 255 from the exact image on
average) is the default: 12-15× smaller, so ILSVRC-2012 fits on one disk and in a big machine's page
cache, where raw's 252 GB fits in neither and would have to come off the disk at 5 GB/s to feed
25,000 img/s. Its price is decoding, ~0.27 ms of one core per image: at most ~59,000 img/s from 16
free cores, before DataLoader workers pay for passing batches between processes (or
``torchvision.io.decode_jpeg(list, device="cuda")`` decodes a batch on the GPU with nvJPEG; not
measured: no GPU here). ``raw`` costs no decoding at all: worth it for small sets (the stand-in;
Imagenette's 13k images are 2.6 GB) when the CPU is the bottleneck. Preparing costs ~360-450 images
per CPU-second either way (decoding the originals, rescaling, encoding, statistics).

Restartable. Each chunk is written by one worker: the shard to a temporary name, renamed, then its
*record* (offsets, labels, skipped files, the chunk's statistics sums) in ``_work/``, also renamed;
the record marks the chunk done. A killed prepare, run again with the same arguments, redoes only
the chunks without a record, and the store it leaves is byte for byte the one an uninterrupted run
writes. ``meta.json`` is written last: a store without it is unfinished. Then ``_work/`` (~1 GB for
ILSVRC-2012, mostly each chunk's pixel sums) is removed.

Odd files. Real ImageNet holds 22 CMYK JPEGs, a greyscale one here and there and a PNG named
``.JPEG``: `load_rgb` converts all of them. A file PIL cannot read (truncated, corrupt, empty) is
reported on stderr by name, listed in ``skipped.txt`` and left out; the work goes on.

Statistics. Each worker sums its training images' pixels (int32) and RGB moments (float64, exact
integers), and the sums are added at the end: the same numbers as `compute_dataset_stats` on the
source, exactly, from the §2 images before JPEG encoding, without a second pass over the data.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import signal
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import AlexNetError, OneLineParser
from ..files import write_atomic
from ..preprocess import paper_preprocess, to_uint8_tensor
from .imagenet import imagenet_folder, imagenet_root, load_rgb
from .stats import DatasetStats, _RGBMoments
from .store import FORMATS, SPLITS, VERSION, WORK, PreparedStore, open_prepared, prepared_root, read_json


# --- writing: one chunk per task --------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """One task: the ``index``-th chunk of a split, its ``files`` as (path, label)."""

    out: Path
    split: str
    index: int
    files: list[tuple[str, int]]
    root: str
    format: str
    quality: int
    size: int

    def shard(self) -> Path:
        return self.out / self.split / f"{self.index:05d}.{self.format}"

    def record(self) -> Path:
        return self.out / WORK / self.split / f"{self.index:05d}.pt"


def _encode(img: Image.Image, format: str, quality: int) -> bytes:
    """One §2 image as stored: JPEG bytes, or its raw S×S×3 uint8 values (as a JPEG decodes them)."""
    if format == "raw":
        return np.asarray(img, dtype=np.uint8).tobytes()
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _prepare_chunk(chunk: _Chunk) -> tuple[int, list[tuple[str, str]]]:
    """Preprocess one chunk's files (§2), write its shard, then its record (the mark that it is done).

    Returns the number of images stored and the files skipped, as (name, why).
    """
    offsets, labels, skipped = [0], [], []
    moments = _RGBMoments()
    image_sum = torch.zeros(3, chunk.size, chunk.size, dtype=torch.int32)  # exact: 255 × chunk < 2**31

    def write_images(f) -> None:
        for path, label in chunk.files:
            try:
                img = paper_preprocess(load_rgb(path), chunk.size)
            except Exception as err:  # PIL raises OSError, SyntaxError, ValueError... for broken files
                skipped.append((os.path.relpath(path, chunk.root), f"{type(err).__name__}: {err}"))
                continue
            data = _encode(img, chunk.format, chunk.quality)
            f.write(data)
            offsets.append(offsets[-1] + len(data))
            labels.append(label)
            if chunk.split == "train":
                x = to_uint8_tensor(img)
                image_sum.add_(x)
                moments.add(x.unsqueeze(0))

    write_atomic(chunk.shard(), write_images)
    record = dict(offsets=torch.tensor(offsets), labels=torch.tensor(labels, dtype=torch.int64), skipped=skipped)
    if chunk.split == "train":
        record.update(image_sum=image_sum, pixels=moments.count, rgb_sum=moments.sum, rgb_outer=moments.sum_outer)
    write_atomic(chunk.record(), lambda f: torch.save(record, f))
    return len(labels), skipped


def _worker_start() -> None:
    """A pool worker: one thread; Ctrl-C is the parent's to handle (no worker traceback on the screen)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)


@contextmanager
def _one_thread():
    """torch on one thread while it runs: the worker processes use the cores; threads would fight them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# --- planning, restarting, finishing ----------------------------------------------------------


def _plan(root: Path, datasets: dict, format: str, quality: int, size: int, chunk_size: int) -> dict:
    """Everything that decides the store's bytes; a restart must see the same plan."""
    splits = {}
    for split, dataset in datasets.items():
        listing = "".join(f"{os.path.relpath(path, root)}\t{label}\n" for path, label in dataset.samples)
        splits[split] = {"files": len(dataset.samples), "sha256": hashlib.sha256(listing.encode()).hexdigest()}
    return {
        "version": VERSION,
        "source_root": str(root),
        "format": format,
        "quality": quality if format == "jpeg" else None,
        "size": size,
        "chunk_size": chunk_size,
        "splits": splits,
    }



def _differences(old: dict, new: dict) -> str:
    keys = [key for key in new if key != "splits" and old.get(key) != new[key]]
    changed = [f"{key} {old.get(key)!r} -> {new[key]!r}" for key in keys]
    return ", ".join(changed) or "the source's list of files changed"


def _remove_work(out: Path) -> None:
    """Remove ``_work/``, the records of an unfinished prepare."""
    shutil.rmtree(out / WORK, ignore_errors=True)


def _clear(out: Path) -> None:
    """Remove a store, finished or not, from ``out``: only the files a prepare writes there."""
    _remove_work(out)
    in_splits = [f"{split}/{name}" for split in SPLITS for name in ("*.jpeg", "*.raw", "*.npy", "*.partial")]
    for pattern in ("meta.json", "stats.pt", "skipped.txt", "*.partial", *in_splits):
        for path in out.glob(pattern):
            path.unlink()


def _finish(out: Path, plan: dict, datasets: dict) -> None:
    """Index each split, add up the training statistics, then write ``meta.json``: the store is complete."""
    splits, skipped_lines, size = {}, [], plan["size"]
    for split in datasets:
        chunks = math.ceil(plan["splits"][split]["files"] / plan["chunk_size"])
        labels, positions, skipped = [], [], 0
        image_sum, moments = torch.zeros(3, size, size, dtype=torch.float64), _RGBMoments()
        for k in range(chunks):
            record = torch.load(out / WORK / split / f"{k:05d}.pt", weights_only=True)
            offsets = record["offsets"]
            labels.append(record["labels"])
            positions.append(torch.stack([torch.full_like(offsets[:-1], k), offsets[:-1], offsets.diff()], 1))
            skipped += len(record["skipped"])
            skipped_lines += [f"{name}\t{why}\n" for name, why in record["skipped"]]
            if split == "train":  # the sums are exact: adding them up gives one pass's numbers
                image_sum += record["image_sum"]
                moments.count += record["pixels"]
                moments.sum += record["rgb_sum"]
                moments.sum_outer += record["rgb_outer"]
        labels, positions = torch.cat(labels).numpy(), torch.cat(positions).numpy()
        write_atomic(out / split / "labels.npy", lambda f: np.save(f, labels))
        write_atomic(out / split / "positions.npy", lambda f: np.save(f, positions))
        splits[split] = {"images": len(labels), "skipped": skipped, "shards": chunks}
        if len(labels) == 0:
            raise AlexNetError(f"No {split} image of {plan['source_root']} could be read (see the skipped "
                               "files above): a store needs both splits. Fix the source and run again.")
        if split == "train":
            dataset = datasets[split]
            empty = sorted({label for _, label in dataset.samples} - set(labels.tolist()))
            if empty:
                names = ", ".join(f"{dataset.class_names[c]} ({dataset.classes[c]})" for c in empty[:5])
                names += ", ..." if len(empty) > 5 else ""
                warnings.warn(f"{len(empty)} class(es) have no readable training image ({names}): the net "
                              "can never learn them.", stacklevel=2)
            rgb_mean, covariance = moments.mean_and_covariance()
            mean = (image_sum / len(labels)).float()
            DatasetStats(mean, rgb_mean, covariance, num_images=len(labels)).save(out / "stats.pt")
    write_atomic(out / "skipped.txt", lambda f: f.write("".join(skipped_lines).encode()))
    for folder in (out, *(out / split for split in datasets)):
        for partial in folder.glob("*.partial"):  # left by killed writers
            partial.unlink()
    dataset = datasets["train"]
    meta = {
        "what": "ImageNet prepared by alexnet_lib.data.prepare: §2's images (shorter side rescaled, centre crop)",
        **plan,
        "source": dataset.source,
        "classes": dataset.classes,
        "class_names": dataset.class_names,
        "split_sizes": splits,
    }
    text = json.dumps(meta, indent=1, ensure_ascii=False) + "\n"
    write_atomic(out / "meta.json", lambda f: f.write(text.encode()))
    _remove_work(out)


def prepare_imagenet(
    source: str | Path | None = None,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    format: str = "jpeg",
    quality: int = 90,
    size: int = 256,
    chunk_size: int = 1024,
    force: bool = False,
    progress: bool = True,
) -> PreparedStore:
    """Paper §2: write the store of ``source``'s train and val splits to ``out``, and return it opened.

    ``source`` is an ImageNet-layout root (default: the profile's, `imagenet_root`, which downloads
    Imagenette under ``course`` when it is missing); ``out`` defaults
    to `prepared_root`. ``workers`` processes (default: every core) preprocess ``chunk_size`` images
    each at a time; ``format`` is ``"jpeg"`` (``quality``) or ``"raw"``. Run again after a kill with the
    same arguments, it continues where it stopped; run again on a complete store, it returns at once.
    A store of other settings (or an unfinished one) in ``out`` is replaced only when ``force``.
    """
    if format not in FORMATS:
        raise AlexNetError(f"Unknown store format {format!r}: use one of {', '.join(FORMATS)}.")
    if not 1 <= quality <= 100 or size < 1 or chunk_size < 1:
        raise AlexNetError(f"Need quality 1-100, size >= 1, chunk size >= 1; got {quality}, {size}, {chunk_size}.")
    root = Path(source).expanduser().resolve() if source is not None else imagenet_root(download=True)
    out = Path(out).expanduser().resolve() if out is not None else prepared_root()
    if out == root:
        raise AlexNetError(f"--out {out} is the source itself: pick another folder for the store.")
    datasets = {split: imagenet_folder(root, split) for split in SPLITS}
    if datasets["train"].classes != datasets["val"].classes:
        raise AlexNetError(f"{root}/train and {root}/val hold different classes: they need the same <wnid> folders.")
    plan = _plan(root, datasets, format, quality, size, chunk_size)

    meta, started = read_json(out / "meta.json"), read_json(out / WORK / "plan.json")
    if meta is not None and {key: meta.get(key) for key in plan} == plan and not force:
        _remove_work(out)  # left if a run was killed after writing meta.json
        return open_prepared(out)
    previous = meta or started
    if previous is not None and {key: previous.get(key) for key in plan} != plan and not force:
        state = "a store" if meta else "an unfinished prepare"
        raise AlexNetError(
            f"{out} holds {state} with other settings ({_differences(previous, plan)}). "
            "Pass --force to replace it, or --out another folder."
        )
    try:
        if force or meta is not None:
            _clear(out)
        for folder in (out / WORK / split for split in SPLITS):
            folder.mkdir(parents=True, exist_ok=True)
        for folder in (out / split for split in SPLITS):
            folder.mkdir(exist_ok=True)
        write_atomic(out / WORK / "plan.json", lambda f: f.write(json.dumps(plan, indent=1).encode()))
    except OSError as err:
        reason = err.strerror or err
        raise AlexNetError(f"Cannot write the store to {out}: {reason}. Pass --out a writable folder.") from None

    chunks = [
        _Chunk(out, split, k, files[k * chunk_size : (k + 1) * chunk_size], str(root), format, quality, size)
        for split, files in ((split, dataset.samples) for split, dataset in datasets.items())
        for k in range(math.ceil(len(files) / chunk_size))
    ]
    todo = [chunk for chunk in chunks if not chunk.record().is_file()]
    total = sum(len(chunk.files) for chunk in chunks)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(
        total=total, initial=total - sum(len(c.files) for c in todo), unit="img", disable=not progress,
        desc=f"prepare {root.name} ({format}, {workers} workers)", file=sys.stderr,
    )  # fmt: skip
    with bar, (Pool(workers, _worker_start) if workers > 1 else _one_thread()) as pool:
        results = pool.imap_unordered(_prepare_chunk, todo) if pool else map(_prepare_chunk, todo)
        try:
            for stored, skipped in results:
                for name, why in skipped:
                    tqdm.write(f"skipped {name}: {why}", file=sys.stderr)
                bar.update(stored + len(skipped))
        except (OSError, RuntimeError) as err:  # the disk filled up (torch.save: RuntimeError), the output went away...
            free = shutil.disk_usage(out).free / 1e6
            raise AlexNetError(f"Writing the store to {out} failed ({str(err).splitlines()[0]}; {free:,.0f} MB "
                               "free): fix that and run the same command again to continue.") from None
    _finish(out, plan, datasets)
    return open_prepared(out)

# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Paper §2: the command line that prepares the store."""
    parser = OneLineParser(
        prog="python -m alexnet_lib.data.prepare",
        description="Prepare ImageNet once: §2's 256×256 images in a compact store, with mean image and RGB PCA.",
    )
    add = parser.add_argument
    add("--source", type=Path, help="ImageNet-layout root, or the ILSVRC-2012 archives (default: the profile's)")
    add("--out", type=Path, help="the store's folder (default: <data root>/prepared/<dataset>)")
    add("--workers", type=int, default=os.cpu_count(), help="processes (default: one per core)")
    add("--format", choices=FORMATS, default="jpeg", help="jpeg (compact; the default) or raw (no decoding)")
    add("--quality", type=int, default=90, help="JPEG quality (default 90)")
    add("--size", type=int, default=256, help="side of the stored images (the paper's 256)")
    add("--chunk-size", type=int, default=1024, help="images per shard and per task (default 1024)")
    add("--force", action="store_true", help="replace a store, or an unfinished one, of other settings")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        store = prepare_imagenet(
            args.source, args.out, workers=args.workers, format=args.format, quality=args.quality,
            size=args.size, chunk_size=args.chunk_size, force=args.force,
        )  # fmt: skip
    except AlexNetError as err:
        sys.exit(f"error: {err}")
    except KeyboardInterrupt:
        sys.exit("interrupted: run the same command again to continue where it stopped.")
    counts = store.split_sizes.items()
    sizes = ", ".join(f"{split} {n['images']:,} images ({n['skipped']} skipped)" for split, n in counts)
    megabytes = sum(f.stat().st_size for f in store.path.rglob("*") if f.is_file()) / 1e6
    print(
        f"Prepared {store.source} in {store.path} after {time.perf_counter() - start:.1f} s: {sizes}; "
        f"{store.format}, {megabytes:,.1f} MB. Skipped files, if any, are listed in skipped.txt."
    )


if __name__ == "__main__":
    main()
