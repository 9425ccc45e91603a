#!/usr/bin/env python3
"""A chapter opened alone on a hosted Jupyter, checked here: the notebook copied into an empty
folder and run in a fresh virtual environment where `alexnet_lib` is not installed, so that its
first cell must install the book (tools/hosted_cell.py writes that cell).

    .venv/bin/python tools/check_hosted.py [book/02_dataset.ipynb]

The cell's repository is this checkout (``ALEXNET_BOOK_REPOSITORY=file://<checkout>``: its
committed HEAD, as a reader's clone of the real URL gets main), and ``HOME`` is the check's own
folder (_build/hosted/), so the clone lands in _build/hosted/home/alexnet-book. The fresh
environment sees .venv's packages through a ``.pth`` file (nothing big is downloaded; pip fetches
only the build backend), but not alexnet_lib: .venv has it as an editable install, whose hook runs
in .venv alone. Checked: alexnet_lib does not import before; the notebook runs top to bottom; its
first cell cloned and installed the book, said whether a GPU is attached, and fetched the data;
afterwards alexnet_lib imports from the clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import ROOT, rel  # noqa: E402

FOLDER = ROOT / "_build" / "hosted"
DEFAULT = ROOT / "book" / "02_dataset.ipynb"


def fail(message: str) -> None:
    raise SystemExit(f"check_hosted: FAILED: {message} (its folder: {rel(FOLDER)})")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    notebook = Path(argv[0]) if argv else DEFAULT
    start = time.perf_counter()
    shutil.rmtree(FOLDER, ignore_errors=True)
    chapter, home, venv = FOLDER / "chapter", FOLDER / "home", FOLDER / "venv"
    for path in (chapter, home):
        path.mkdir(parents=True)
    copy = chapter / notebook.name
    shutil.copy(notebook, copy)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "checkout-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALEXNET_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), ALEXNET_BOOK_REPOSITORY=f"file://{ROOT}", PYTHONHASHSEED="0")
    found = "import importlib.util; print(importlib.util.find_spec('alexnet_lib') is not None)"
    if subprocess.run([str(python), "-c", found], cwd=chapter, env=env, capture_output=True, text=True).stdout.strip() != "False":
        fail("alexnet_lib imports in the fresh environment before the first cell ran")
    execute = subprocess.run([str(python), str(ROOT / "tools" / "execute_notebooks.py"), str(copy)], cwd=chapter, env=env)
    if execute.returncode:
        fail(f"{notebook.name} did not run alone in a fresh environment")
    nb = nbformat.read(copy, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    said = "".join(o.get("text", "") for o in first.outputs if o.output_type == "stream")
    clone = home / "alexnet-book"
    where = subprocess.run([str(python), "-c", "import alexnet_lib; print(alexnet_lib.__file__)"], cwd=chapter,
                           env=env, capture_output=True, text=True).stdout.strip()
    if not (clone / ".git").is_dir() or not where.startswith(str(clone)):
        fail(f"the first cell did not install the book from a clone in {clone} (alexnet_lib is {where or 'missing'})")
    if "profile : smoke" not in said or ("No GPU is attached" not in said and "device  : CPU" in said):
        fail(f"the first cell did not say the profile and whether a GPU is attached; it said:\n{said}")
    if not (clone / "data" / "standin").is_dir() or not (clone / "data" / "FashionMNIST").is_dir():
        fail("the first cell did not fetch the smoke profile's data")
    shutil.rmtree(FOLDER)
    print(f"check_hosted: {rel(notebook)} ran alone in a fresh environment, its first cell installing the book "
          f"({time.perf_counter() - start:.0f} s); the cell said:")
    print("    " + "\n    ".join(said.strip().splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
