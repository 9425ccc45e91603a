"""Paper §2: the generated stand-in packed as the archives a user downloads, file format for file format.

What a reader of the ``course`` or ``paper`` profile brings is not a folder but archives:
``cifar-10-python.tar.gz``, ``imagenette2-320.tgz``, and ILSVRC-2012's ``ILSVRC2012_img_train.tar``
(one tar per class inside a tar), ``ILSVRC2012_img_val.tar`` (50,000 files in one flat folder) and
``ILSVRC2012_devkit_t12.tar.gz`` (whose ``meta.mat`` maps ILSVRC2012_IDs to wnids and whose
ground-truth file labels the validation images in file-name order). `write_archives` builds all of
them from a stand-in (`make_standin`), in seconds, so that the code which downloads, checks and
extracts the real files runs in tests. Each archive holds the stand-in's marker where its
extraction puts it (beside the ILSVRC archives, where nothing of theirs lands at the root), so
that what comes out of it still says it is not real data. ``MD5SUMS`` lists their checksums, as a
mirror for ``ALEXNET_DOWNLOAD_FROM`` (`alexnet_lib.data.download`) has it, and `serve` is such a
mirror on 127.0.0.1 (it answers ``Range`` requests, so an interrupted download can continue).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import shutil
import tarfile
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.io

from ..errors import AlexNetError
from .standin import CIFAR_FOLDER, MARKER, STANDIN_CLASSES, is_standin, make_standin

CIFAR, IMAGENETTE = "cifar-10-python.tar.gz", "imagenette2-320.tgz"
ILSVRC = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _cifar(out: Path, cifar: Path) -> None:
    """``cifar-10-batches-py/``: five training batches, ``test_batch``, ``batches.meta``, ``readme.html``."""
    with tarfile.open(out / CIFAR, "w:gz") as tar:
        tar.add(cifar / CIFAR_FOLDER, CIFAR_FOLDER)
        tar.add(cifar / MARKER, f"{CIFAR_FOLDER}/{MARKER}")
        _add_bytes(tar, f"{CIFAR_FOLDER}/readme.html", b"<p>The generated stand-in of CIFAR-10, NOT the real one.</p>\n")


def _imagenette(out: Path, imagenet: Path) -> None:
    """``imagenette2-320/``: ``train/<wnid>/``, ``val/<wnid>/`` and ``noisy_imagenette.csv``."""
    rows = ["path,noisy_labels_0,noisy_labels_1,noisy_labels_5,noisy_labels_25,noisy_labels_50,is_valid"]
    for split in ("train", "val"):
        for image in sorted((imagenet / split).glob("*/*")):
            rows.append(f"{split}/{image.parent.name}/{image.name},{','.join([image.parent.name] * 5)},{split == 'val'}")
    with tarfile.open(out / IMAGENETTE, "w:gz") as tar:
        for split in ("train", "val"):
            tar.add(imagenet / split, f"imagenette2-320/{split}")
        tar.add(imagenet / MARKER, f"imagenette2-320/{MARKER}")
        _add_bytes(tar, "imagenette2-320/noisy_imagenette.csv", ("\n".join(rows) + "\n").encode())


def _meta_mat(path: Path) -> None:
    """The devkit's ``synsets`` struct array: the classes as leaves (ILSVRC2012_ID 1..10, no children),
    then one inner node above them, as the real file lists 1,000 leaves before 860 inner nodes."""
    fields = ("ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images")
    synsets = np.zeros((len(STANDIN_CLASSES) + 1, 1), dtype=[(f, object) for f in fields])
    for i, (wnid, name) in enumerate(STANDIN_CLASSES):
        synsets[i, 0] = (i + 1, wnid, name, f"the stand-in's class {name}", 0, np.zeros((1, 0)), 0, 0)
    inner = len(STANDIN_CLASSES) + 1
    synsets[inner - 1, 0] = (inner, "n00001740", "entity", "the root of the stand-in's hierarchy",
                             len(STANDIN_CLASSES), np.arange(1, inner, dtype=np.uint16)[None], 1, 0)
    scipy.io.savemat(path, {"synsets": synsets})


def _ilsvrc(out: Path, imagenet: Path) -> None:
    wnids = [wnid for wnid, _ in STANDIN_CLASSES]
    with tarfile.open(out / ILSVRC[0], "w") as train:  # one uncompressed tar per class, inside one tar
        for wnid in wnids:
            inner = io.BytesIO()
            with tarfile.open(fileobj=inner, mode="w") as tar:
                for image in sorted((imagenet / "train" / wnid).iterdir()):
                    tar.add(image, image.name)
            _add_bytes(train, f"{wnid}.tar", inner.getvalue())
    val = sorted((imagenet / "val").glob("*/*"), key=lambda p: p.name)  # ILSVRC2012_val_00000001.JPEG ...
    with tarfile.open(out / ILSVRC[1], "w") as tar:
        for image in val:
            tar.add(image, image.name)
    work = out / ".devkit"
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    _meta_mat(work / "data" / "meta.mat")
    truth = "".join(f"{wnids.index(image.parent.name) + 1}\n" for image in val)  # ILSVRC2012_IDs, file order
    (work / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(truth)
    with tarfile.open(out / ILSVRC[2], "w:gz") as tar:
        tar.add(work, "ILSVRC2012_devkit_t12")
    shutil.rmtree(work)
    shutil.copy(imagenet / MARKER, out / MARKER)


def write_archives(out: str | Path, root: str | Path | None = None) -> Path:
    """Write the five archives of the stand-in in ``root`` (default: `make_standin`'s, made if
    missing) and their ``MD5SUMS`` to ``out``; returns ``out``."""
    root = Path(root) if root is not None else make_standin()
    if not all(is_standin(root / name) for name in ("cifar10", "imagenet")):
        raise AlexNetError(f"{root} holds no stand-in to pack: make one with make_standin(root) first.")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _cifar(out, root / "cifar10")
    _imagenette(out, root / "imagenet")
    _ilsvrc(out, root / "imagenet")
    sums = [f"{hashlib.md5((out / name).read_bytes()).hexdigest()}  {name}" for name in (CIFAR, IMAGENETTE, *ILSVRC)]
    (out / "MD5SUMS").write_text("\n".join(sums) + "\n")
    return out


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder's files, honouring ``Range: bytes=N-`` as real servers do (the standard
    handler ignores it); ``requests`` keeps each request's path and range."""

    requests: list[tuple[str, str | None]] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        type(self).requests.append((self.path, self.headers.get("Range")))
        path = Path(self.translate_path(self.path))
        ask = self.headers.get("Range")
        if not ask or not path.is_file():
            return super().do_GET()
        data = path.read_bytes()[int(ask.removeprefix("bytes=").rstrip("-")):]
        if not data:
            self.send_response(416)
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serve(folder: str | Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 while the block runs; yields its base URL."""
    handler = lambda *args, **kwargs: RangeHandler(*args, directory=str(folder), **kwargs)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
