"""Paper §2 and §3.1: download the public datasets of the ``course`` profile, checksummed and resumable.

CIFAR-10 (§3.1's side experiments) and Imagenette (ten ILSVRC-2012 classes, the ``course``
profile's ImageNet) are public archives; ILSVRC-2012 itself needs an image-net.org account and is
never downloaded. `fetch` gets one file over HTTP(S) (or a ``file://`` URL) into
``data_root()/downloads/``, with a progress bar; an interrupted download continues where it stopped
(an HTTP Range request), and the file is checked against its MD5 (the checksums torchvision
publishes) before it is used. `download_dataset` fetches an archive and extracts it where the
loaders read it.

``ALEXNET_DOWNLOAD_FROM=<base URL>`` fetches every archive from that base instead, e.g. a mirror,
or the stand-in's format-exact copies (`alexnet_lib.data.standin.write_archives`); the checksums
are then read from the ``MD5SUMS`` file at that base (``md5sum`` format).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ..config import MIRROR, data_root, display_path, download_mirror
from ..errors import AlexNetError


@dataclass(frozen=True)
class Archive:
    """A dataset archive: its file name, official URL and MD5, the folder it holds at its top, and
    where under ``data_root()`` that folder goes."""

    file: str
    url: str
    md5: str
    top: str
    folder: str


ARCHIVES = {
    "cifar10": Archive("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
    "imagenette": Archive("imagenette2-320.tgz", "https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-320.tgz",
                          "3df6f0d01a2c9592104656642f5e78a3", "imagenette2-320", "imagenette"),
}
def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(url: str, path: Path, md5: str | None = None, *, progress: bool = True, timeout: float = 30) -> Path:
    """Download ``url`` to ``path`` (via ``path.partial``, continued if a previous run stopped) and
    check its ``md5``; a complete ``path`` with the right MD5 is not fetched again. Returns ``path``."""
    path = Path(path)
    if path.is_file() and (md5 is None or md5_of(path) == md5):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    kept = f"the {have:,} bytes so far are kept in {display_path(partial)} and the next run continues from there"
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code != 416:  # 416: nothing left to send, the partial file is whole
            raise AlexNetError(f"Downloading {url} failed: HTTP {err.code} {err.reason}.") from None
        response = None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise AlexNetError(f"Could not download {url} ({reason}): check the connection and run again; {kept}.") from None
    if response is not None:
        with response:
            resumed = have > 0 and getattr(response, "status", None) == 206
            size = response.headers.get("Content-Length")
            total = int(size) + (have if resumed else 0) if size else None
            try:
                with open(partial, "ab" if resumed else "wb") as f, tqdm(
                        total=total, initial=have if resumed else 0, unit="B", unit_scale=True, file=sys.stderr,
                        desc=f"download {path.name}", disable=not progress) as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        f.write(block)
                        bar.update(len(block))
            except OSError as err:
                have = partial.stat().st_size if partial.exists() else 0
                raise AlexNetError(f"Downloading {url} stopped ({err}): run again to continue; the {have:,} "
                                   f"bytes so far are kept in {display_path(partial)}.") from None
    got = md5_of(partial)
    if md5 is not None and got != md5:
        partial.unlink()
        raise AlexNetError(f"{path.name} from {url} is damaged (MD5 {got}, expected {md5}): it was deleted; "
                           "run again to download it afresh.")
    os.replace(partial, path)
    return path


def extract(archive: Path, into: Path, top: str) -> Path:
    """Extract the folder ``top`` of the tar ``archive`` to ``into`` (whole or not at all)."""
    work = into.with_name(f".{into.name}.extracting")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")  # no absolute paths, links out of the folder, devices
    except (tarfile.TarError, EOFError, OSError) as err:
        shutil.rmtree(work, ignore_errors=True)
        raise AlexNetError(f"Could not extract {display_path(archive)} ({err}): delete it and run again "
                           "to download it afresh.") from None
    if not (work / top).is_dir():
        shutil.rmtree(work, ignore_errors=True)
        raise AlexNetError(f"{display_path(archive)} does not hold a folder {top}/: it is not the expected archive.")
    os.replace(work / top, into)
    shutil.rmtree(work)
    return into


def _mirror_md5(base: str, file: str) -> str:
    url = f"{base.rstrip('/')}/MD5SUMS"
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            lines = response.read().decode().splitlines()
    except (urllib.error.URLError, OSError) as err:
        raise AlexNetError(f"{MIRROR}={base} has no readable MD5SUMS ({err}): it lists each archive's MD5.") from None
    sums = {name.strip().lstrip("*"): md5 for md5, name in (line.split(None, 1) for line in lines if line.strip())}
    if file not in sums:
        raise AlexNetError(f"{url} lists no MD5 for {file}.")
    return sums[file]


def download_dataset(name: str, into: Path | None = None, *, progress: bool = True) -> Path:
    """The folder of dataset ``name`` (`ARCHIVES`), downloaded and extracted first when missing.

    ``into`` defaults to ``data_root()/ARCHIVES[name].folder``. The archive stays in
    ``data_root()/downloads/`` (delete it to save space once extracted).
    """
    archive = ARCHIVES[name]
    into = Path(into) if into is not None else data_root() / archive.folder
    if into.is_dir():
        return into
    base = download_mirror()
    url, md5 = (f"{base.rstrip('/')}/{archive.file}", _mirror_md5(base, archive.file)) if base else (archive.url, archive.md5)
    path = fetch(url, data_root() / "downloads" / archive.file, md5, progress=progress)
    return extract(path, into, archive.top)
