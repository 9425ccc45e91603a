"""Paper §2: reading a prepared store: its splits, classes and training-set statistics.

`alexnet_lib.data.prepare` writes a store once (its docstring describes the layout); training and
evaluation open it with `open_prepared` and read a batch with one ``pread`` per image.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torchvision.io import decode_jpeg

from ..config import Profile, data_root, get_profile
from ..errors import AlexNetError
from .stats import DatasetStats

VERSION = 1  # of the store's layout; bump when it changes
SPLITS = ("train", "val")
FORMATS = ("jpeg", "raw")
WORK = "_work"  # chunk records of an unfinished prepare; removed when the store is complete
OPEN_SHARDS = 128  # shard files a reader keeps open (per process)


def prepared_root(profile: Profile | str | None = None) -> Path:
    """Paper §2: where the profile's prepared store lives: ``<data root>/prepared/<dataset>``.

    E.g. ``data/prepared/standin`` under ``smoke``, ``data/prepared/ilsvrc2012`` under ``paper``.
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    return data_root() / "prepared" / profile.imagenet


# --- writing: one chunk per task --------------------------------------------------------------



def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None



class PreparedSplit:
    """Paper §2: one split of a prepared store: ``len``, ``labels`` and ``read(indices)``.

    Picklable, so DataLoader workers can share it: the shard files are opened lazily in each
    process and read with ``os.pread`` (no shared file offset). ``split[indices]`` returns
    ``(read(indices), labels[indices])``, so ``DataLoader(split, sampler=BatchSampler(...),
    batch_size=None)`` yields whole batches; ``split[i]`` returns one (image, label).
    """

    def __init__(self, folder: Path, format: str, size: int) -> None:
        self.folder, self.format, self.size = Path(folder), format, size
        self.labels = torch.from_numpy(np.load(self.folder / "labels.npy"))
        self._positions = np.load(self.folder / "positions.npy")  # N × (shard, offset, length)
        self._files: OrderedDict[int, object] = OrderedDict()

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The images at ``indices`` (any order, repeats allowed), a uint8 N×3×S×S tensor on the CPU.

        Its memory is channels_last (N×S×S×3, as JPEGs decode and as the GPU trainer wants it):
        ``.contiguous()`` makes a channels-first copy when one is needed.
        """
        positions = self._positions[np.asarray(indices, dtype=np.int64).reshape(-1)].tolist()
        if not positions:
            return torch.empty(0, 3, self.size, self.size, dtype=torch.uint8)
        data = torch.empty(sum(length for _, _, length in positions), dtype=torch.uint8)
        stored, start = [], 0
        for shard, offset, length in positions:  # one read per image, into one buffer
            stored.append(data[start : start + length])
            stored[-1].numpy()[:] = np.frombuffer(os.pread(self._fileno(shard), length, offset), np.uint8)
            start += length
        if self.format == "raw":
            hwc = data.view(len(positions), self.size, self.size, 3)
        else:
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders for TorchCodec's;
                warnings.simplefilter("ignore", DeprecationWarning)  # they are still 1.2× PIL's speed here
                images = decode_jpeg(stored)  # 3×S×S views of S×S×3 memory: stacked as S×S×3, a plain
            # copy (numpy's: torch's copy runs on every core's thread, and stalls when the cores are busy)
            hwc = torch.from_numpy(np.stack([image.permute(1, 2, 0).numpy() for image in images]))
        return hwc.permute(0, 3, 1, 2)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.read([index])[0], self.labels[index]
        return self.read(index), self.labels[torch.as_tensor(index, dtype=torch.int64)]

    def _fileno(self, shard: int) -> int:
        """The shard's file descriptor; the ``OPEN_SHARDS`` most recently used stay open."""
        file = self._files.pop(shard, None)
        if file is None:
            file = open(self.folder / f"{shard:05d}.{self.format}", "rb", buffering=0)
            if len(self._files) >= OPEN_SHARDS:
                self._files.popitem(last=False)[1].close()
        self._files[shard] = file
        return file.fileno()

    def __getstate__(self) -> dict:
        return {**vars(self), "_files": OrderedDict()}  # open files stay in their process


@dataclass
class PreparedStore:
    """Paper §2: a prepared ImageNet: ``classes`` (wnids), ``class_names``, ``stats`` (`DatasetStats`
    of the training split), ``source`` (real or stand-in), and its splits, via ``split(name)``."""

    path: Path
    classes: list[str]
    class_names: list[str]
    source: str
    stats: DatasetStats
    format: str
    size: int
    split_sizes: dict
    fingerprint: str  # of what the store holds (`store_fingerprint`): the same after a move or a copy

    def split(self, name: str) -> PreparedSplit:
        if name not in self.split_sizes:
            raise AlexNetError(f"No split {name!r} in the store {self.path}; it has {', '.join(self.split_sizes)}.")
        return PreparedSplit(self.path / name, self.format, self.size)


def open_prepared(path: str | Path | None = None) -> PreparedStore:
    """Paper §2: open the store at ``path`` (default `prepared_root`) that `prepare_imagenet` wrote.

    Raises `AlexNetError`, saying which command makes it, when there is none or it is unfinished,
    and naming the file when it is damaged (`check_files`).
    """
    path = Path(path).expanduser().resolve() if path is not None else prepared_root()
    meta = read_json(path / "meta.json")
    if meta is None or meta.get("version") != VERSION:
        state = "an unfinished or older" if meta or (path / WORK).is_dir() else "no"
        out = "" if path == prepared_root() else f" --out {path}"
        raise AlexNetError(
            f"There is {state} prepared ImageNet at {path}: run `python -m alexnet_lib.data.prepare"
            f" [--source IMAGENET_ROOT]{out}` (a killed run continues where it stopped)."
        )
    check_files(path, meta)
    return PreparedStore(
        path, meta["classes"], meta["class_names"], meta["source"], DatasetStats.load(path / "stats.pt"),
        meta["format"], meta["size"], meta["split_sizes"], store_fingerprint(meta),
    )  # fmt: skip


def check_files(path: Path, meta: dict) -> None:
    """A complete store's files agree with its index: each split's labels and positions list as many
    images as ``meta.json`` says, and every shard exists and is as long as the positions in it need
    (a partial copy truncates or loses shards). Costs a stat per shard. Raises `AlexNetError` naming
    the first file that does not agree."""
    def damaged(file: Path, why: str) -> AlexNetError:
        return AlexNetError(
            f"The prepared store {path} is damaged: {file.relative_to(path)} {why}. Prepare it again "
            f"(`python -m alexnet_lib.data.prepare --force --out {path}` with its source) or restore a complete copy."
        )

    if not (path / "stats.pt").is_file():
        raise damaged(path / "stats.pt", "is missing")
    for split, sizes in meta["split_sizes"].items():
        index = {name: path / split / f"{name}.npy" for name in ("labels", "positions")}
        try:
            labels, positions = (np.load(file, mmap_mode="r") for file in index.values())
        except (OSError, ValueError):
            missing = next(f for f in index.values() if not f.is_file() or f.stat().st_size == 0)
            raise damaged(missing, "is missing or unreadable") from None
        for name, array in (("labels", labels), ("positions", positions)):
            if len(array) != sizes["images"]:
                raise damaged(index[name], f"lists {len(array):,} images where meta.json says {sizes['images']:,}")
        if len(positions):
            ends = np.zeros(int(positions[:, 0].max()) + 1, dtype=np.int64)
            np.maximum.at(ends, positions[:, 0], positions[:, 1] + positions[:, 2])
            for shard in np.flatnonzero(ends):
                file = path / split / f"{shard:05d}.{meta['format']}"
                size = file.stat().st_size if file.is_file() else None
                if size is None or size < ends[shard]:
                    raise damaged(file, "is missing" if size is None else
                                  f"has {size:,} bytes where its images need {int(ends[shard]):,}")


def store_fingerprint(meta: dict) -> str:
    """16 hex digits that change with the store's contents: its classes, its files (the split listings'
    SHA-256) and how they were stored; not with where the store or its source lie."""
    keys = ("version", "format", "quality", "size", "splits", "classes", "split_sizes")
    return hashlib.sha256(json.dumps({k: meta.get(k) for k in keys}, sort_keys=True).encode()).hexdigest()[:16]


# --- command line -----------------------------------------------------------------------------
