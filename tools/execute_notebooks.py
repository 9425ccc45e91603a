#!/usr/bin/env python3
"""Execute the book's notebooks in place, top to bottom, in one fresh kernel each.

    .venv/bin/python tools/execute_notebooks.py                 # every notebook in _toc.yml
    .venv/bin/python tools/execute_notebooks.py book/02_dataset.ipynb
    ALEXNET_PROFILE=course .venv/bin/python tools/execute_notebooks.py

The kernel is this interpreter's (so `.venv/bin/python` runs the notebooks in the venv, whatever
kernelspecs are installed elsewhere), its working directory is the notebook's folder (book/), and
it inherits the environment, ALEXNET_PROFILE included (default: smoke). Widget state is stored in
the notebook so that widgets render on the static site. Outputs are written only on success.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import rel, toc_notebooks  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


class CurrentEnvKernelSpecs(KernelSpecManager):
    """Every kernel name resolves to an IPython kernel of *this* interpreter."""

    def get_kernel_spec(self, kernel_name):
        import ipykernel.kernelspec

        return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict())


def execute(path: Path, timeout: int, out: Path | None = None) -> float:
    """Execute ``path`` (in its own folder) and write it back, or to ``out``/<its name>; returns the seconds."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.setdefault("kernelspec", KERNELSPEC)
    nb.metadata.pop("widgets", None)  # stale widget state from an earlier run
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # per-cell timestamps: noise in every diff
    # IPC sockets: local only, and ipykernel 7 does not warn about unencrypted TCP.
    sockets = tempfile.mkdtemp(prefix="alexnet-kernel-")
    km = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecs(), transport="ipc",
                       ip=os.path.join(sockets, "ipc"))
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},  # cwd = book/
        store_widget_state=True,
        record_timing=False,
        allow_errors=False,
    )
    current = {"index": None, "n": 0}

    def on_cell_start(cell, cell_index):
        current["index"] = cell_index
        if cell.cell_type == "code" and cell.source.strip():
            current["n"] += 1

    client.on_cell_start = on_cell_start
    start = time.perf_counter()
    try:
        client.execute()
        elapsed = time.perf_counter() - start
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        index = current["index"]
        where = (f"cell {index + 1} of {len(nb.cells)} (code cell {current['n']}, counting from 1)"
                 if index is not None else "kernel start")
        src = nb.cells[index].source if index is not None else ""
        first = src.strip().splitlines()[0] if src.strip() else ""
        msg = ANSI.sub("", str(exc)).strip().splitlines()
        short = "\n    ".join(msg[-15:])
        raise SystemExit(
            f"execute: FAILED {rel(path)}: {where}, starting {first!r}\n    {short}\n"
            f"execute: {rel(path)} was not written; fix the cell and run again."
        ) from None
    finally:
        if km.has_kernel:  # nbclient leaves a kernel it did not start to its owner
            km.shutdown_kernel(now=False)
        shutil.rmtree(sockets, ignore_errors=True)
    nbformat.validate(nb)
    nbformat.write(nb, out / path.name if out is not None else path)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)

    os.environ.setdefault("ALEXNET_PROFILE", "smoke")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    notebooks = args.notebooks or toc_notebooks()
    for nb in notebooks:
        if not nb.exists():
            raise SystemExit(f"execute: no such notebook: {nb}")
    print(f"execute: {len(notebooks)} notebook(s), ALEXNET_PROFILE={os.environ['ALEXNET_PROFILE']}, "
          f"kernel {sys.executable}", flush=True)
    total = 0.0
    for nb in notebooks:
        elapsed = execute(nb.resolve(), args.timeout)
        total += elapsed
        print(f"execute: {rel(nb):40s} {elapsed:7.1f} s", flush=True)
    print(f"execute: all {len(notebooks)} notebook(s) in {total:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
