"""The prepared store (`alexnet_lib.data.prepare`): its size, and the speed of writing and reading it.

For each source and each format (``jpeg`` quality 90, ``raw``) this prepares the store from scratch
with 1 and with all worker processes (images/s of `prepare_imagenet`: decode, rescale, crop,
encode, write, statistics), then measures the input pipeline alone: an epoch of random batches of
the training split through a DataLoader with 0 and 2 worker processes (``split[indices]``: one read
per image, then JPEG decoding to a uint8 batch), after a first epoch that fills the page cache.
Sources:

* ``standin``: the generated stand-in (``python -m alexnet_lib.data.standin``; smooth, easy to compress);
* ``photos``: ``--photos N`` JPEGs cut from scikit-image's real photographs (random crops with a
  shorter side of 200-500 pixels, saved at quality 90), closer to ImageNet's texture.

    python benchmarks/prepare.py [--photos 400] [--batch 64] [--workers 2] [--chunk-size 50]

Prints a table, then one summary line. Results are recorded in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler

from alexnet_lib.config import data_root, device_name
from alexnet_lib.data.photos import photographs
from alexnet_lib.data.prepare import prepare_imagenet
from alexnet_lib.data.store import open_prepared
from alexnet_lib.data.standin import STANDIN_CLASSES, make_standin


def photo_source(folder: Path, count: int, seed: int = 0) -> Path:
    """An ImageNet-layout folder of ``count`` training and ``count // 4`` validation JPEGs cut from
    scikit-image's photographs, spread over the stand-in's ten class folders."""
    rng = np.random.default_rng(seed)
    photos = list(photographs().values())
    for split, n in (("train", count), ("val", count // 4)):
        for i in range(n):
            photo = photos[rng.integers(len(photos))]
            short = int(rng.integers(200, min(photo.size) + 1)) if min(photo.size) > 200 else min(photo.size)
            width = min(photo.width, int(short * rng.uniform(1.0, 1.6)))
            left, top = rng.integers(0, photo.width - width + 1), rng.integers(0, photo.height - short + 1)
            crop = photo.crop((left, top, left + width, top + short))
            wnid = STANDIN_CLASSES[i % len(STANDIN_CLASSES)][0]
            (folder / split / wnid).mkdir(parents=True, exist_ok=True)
            crop.save(folder / split / wnid / f"{split}_{i}.JPEG", quality=90)
    return folder


def rates(run, images: int) -> tuple[float, float]:
    """Images per second of ``run()``: of wall-clock time, and of this process's CPU time (the cost
    of one image on one free core, which other processes on a shared machine do not change)."""
    start, cpu = time.perf_counter(), time.process_time()
    run()
    return images / (time.perf_counter() - start), images / (time.process_time() - cpu)


def read_epoch(split, batch: int, workers: int) -> Callable[[], None]:
    """One epoch of random batches through a DataLoader, after one untimed epoch (page cache, workers)."""
    sampler = BatchSampler(RandomSampler(split, generator=torch.Generator().manual_seed(0)), batch, False)
    loader = DataLoader(split, sampler=sampler, batch_size=None, num_workers=workers, persistent_workers=workers > 0)
    for _ in loader:
        pass
    return lambda: [None for _ in loader]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400, help="training images cut from photographs")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="prepare's processes (also timed with 1)")
    parser.add_argument("--chunk-size", type=int, default=50, help="images per task (small: a small source spreads)")
    args = parser.parse_args()
    if args.photos < 4 * len(STANDIN_CLASSES):  # a quarter goes to val, which needs every class
        parser.error(f"--photos {args.photos}: use at least {4 * len(STANDIN_CLASSES)}")
    print(f"{device_name(torch.device('cpu'))}, {os.cpu_count()} cores, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        sources = {
            "standin": make_standin(data_root() / "standin") / "imagenet",
            "photos": photo_source(Path(tmp) / "photos", args.photos),
        }
        print("wall-clock img/s (img per CPU-second of the main process, for one process)")
        header = ("source", "format", "bytes/img", "prepare, 1 proc", f"prepare, {args.workers} proc",
                  "read, 0 workers", "read, 2 workers")  # fmt: skip
        print(("{:8} {:6} {:>10} " + "{:>17} " * 4).format(*header))
        results = {}
        for name, source in sources.items():
            stores = {}
            for format in ("jpeg", "raw"):
                prepared = []
                for workers in (1, args.workers):
                    out = Path(tmp) / f"{name}-{format}-{workers}"
                    images = sum(len(list((source / s).rglob("*.JPEG"))) for s in ("train", "val"))
                    prepared.append(rates(lambda: prepare_imagenet(
                        source, out, workers=workers, format=format, chunk_size=args.chunk_size, progress=False
                    ), images))  # fmt: skip
                stores[format] = store = open_prepared(out)
                split = store.split("train")
                read = [rates(read_epoch(split, args.batch, workers), len(split)) for workers in (0, 2)]
                results[name, format] = read
                shards = sum(f.stat().st_size for f in (store.path / "train").glob(f"*.{format}"))
                cells = [f"{prepared[0][0]:,.0f} ({prepared[0][1]:,.0f})", f"{prepared[1][0]:,.0f}",
                         f"{read[0][0]:,.0f} ({read[0][1]:,.0f})", f"{read[1][0]:,.0f}"]  # fmt: skip
                print(("{:8} {:6} {:>10,.0f} " + "{:>17} " * 4).format(name, format, shards / len(split), *cells))
            val = [stores[f].split("val") for f in ("jpeg", "raw")]
            error = (val[0].read(range(len(val[0]))).int() - val[1].read(range(len(val[1]))).int()).abs().float().mean()
            print(f"{name:8} jpeg q90 vs raw: mean |difference| {error:.2f} levels of 255")
    jpeg, raw = results["photos", "jpeg"], results["photos", "raw"]
    print(
        f"prepare: photos, read img/s with 0 / 2 workers: jpeg {jpeg[0][0]:,.0f} / {jpeg[1][0]:,.0f}, "
        f"raw {raw[0][0]:,.0f} / {raw[1][0]:,.0f}"
    )


if __name__ == "__main__":
    main()
