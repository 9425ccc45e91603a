#!/usr/bin/env python3
"""Execute the book's notebooks in place, top to bottom, in one fresh kernel each.

    .venv/bin/python tools/execute_notebooks.py                 # every notebook in _toc.yml
    .venv/bin/python tools/execute_notebooks.py book/02_dataset.ipynb
    ALEXNET_PROFILE=course .venv/bin/python tools/execute_notebooks.py

The kernel is this interpreter's (so `.venv/bin/python` runs the notebooks in the venv, whatever
kernelspecs are installed elsewhere), its working directory is the notebook's folder (book/), and
it inherits the environment, ALEXNET_PROFILE included (default: smoke). Widget state is stored in
the notebook so that widgets render on the static site. Outputs are written only on success.

Under smoke, the profile of the committed outputs, every notebook runs the way those outputs are
made and the way `make test`'s nbval re-runs them (`STORED`): one thread, on the CPU even where
there is a GPU, hash seed 0; another thread count moves a float32 training run's numbers further
than a cell's stated tolerance. Under another profile it runs with the environment's threads and
GPU. Each notebook's metadata records the settings it ran with (`EXECUTED`), and
tools/check_notebooks.py fails a committed notebook that was not executed the `STORED` way. The
whole book under smoke starts without a §6 run from before (`book_run`): as under nbval, §6
trains it afresh and §6.1 reads it; an earlier one is moved aside, not lost.
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
from two_cpus import ONE_THREAD, assignments  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
# How the committed outputs are made, and how nbval re-runs them (Makefile: NBVAL, tools/two_cpus.py).
STORED = {"ALEXNET_PROFILE": "smoke", **ONE_THREAD, "CUDA_VISIBLE_DEVICES": "", "PYTHONHASHSEED": "0"}
# What decides a notebook's outputs; its metadata records, under EXECUTED, those that were set.
SETTINGS = (*STORED, "ALEXNET_IMAGENET", "ALEXNET_DRY_RUN")
EXECUTED = "executed_with"


def settings(env) -> dict[str, str]:
    """The variables of ``env`` that decide a notebook's outputs (`SETTINGS`), those that are set."""
    return {name: env[name] for name in SETTINGS if name in env}


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
    nb.metadata[EXECUTED] = settings(os.environ)  # the kernel inherits this environment
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
    stored = os.environ["ALEXNET_PROFILE"] == STORED["ALEXNET_PROFILE"]
    if stored:
        os.environ.update(STORED)
    if stored and not args.notebooks:  # the whole book, as nbval runs it: §6 trains afresh the run §6.1 reads
        from alexnet_lib.recipe import book_run

        shared = Path(book_run().out)
        if shared.exists():
            kept = shared.with_name(f"{shared.name}.{time.strftime('%Y%m%d-%H%M%S')}")
            shared.rename(kept)
            print(f"execute: moved the §6 run from before to {rel(kept)}: §6 trains it afresh, as the stored outputs do")
    notebooks = args.notebooks or toc_notebooks()
    for nb in notebooks:
        if not nb.exists():
            raise SystemExit(f"execute: no such notebook: {nb}")
    print(f"execute: {len(notebooks)} notebook(s) with {assignments(settings(os.environ))}, "
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
