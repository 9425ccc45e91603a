#!/usr/bin/env python3
"""The dry run (``make dry-run``): every chapter in _toc.yml under ``course`` and under ``paper``,
top to bottom, at tiny sizes, on format-exact copies of the archives those profiles read.

    .venv/bin/python tools/dry_run.py                          # both profiles, side by side
    .venv/bin/python tools/dry_run.py --profile paper book/11_results.ipynb book/12_qualitative.ipynb

A chapter runs its profile's code, not smoke's: only its numbers of images, steps, epochs and seeds
shrink (``ALEXNET_DRY_RUN=1``, `alexnet_lib.config.DRY_RUN_SIZES`). Each profile gets a folder of
its own under _build/dry-run/<profile>/ (its data root, run folder, and the executed chapters; the
checkout's notebooks and data are not written) and starts from what ``make data`` leaves:

* the stand-in (data/standin) packed as the real archives (`alexnet_lib.data.archives`), served
  from 127.0.0.1 as the mirror ``ALEXNET_DOWNLOAD_FROM`` names: the chapters download CIFAR-10
  and (course) Imagenette from it, check their MD5s, extract them and prepare the store themselves;
* under ``paper``, the three ILSVRC-2012 archives in <data>/imagenet/, where a reader puts the real
  ones (torchvision checks them: tools/dry_run_site/sitecustomize.py gives it the copies' MD5s);
* Fashion-MNIST and the stand-in, linked from the checkout's data/.

Under ``paper`` the §6 chapter starts training in the background and reads its log: the dry run
waits for that run to end and executes the chapter again (what a reader does when the run is
done), before §6.1 reads its checkpoint. Then, under ``paper``, the README's three commands on real
images (``ALEXNET_IMAGENET=fashion-mnist``: prepare, train, evaluate; the layout cut to a few images
per class). Exits 0 only if every chapter and command runs without an error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
ROOT = TOOLS.parent
sys.path.insert(0, str(TOOLS))
from booktoc import rel, toc_notebooks  # noqa: E402

from alexnet_lib.run_folder import running  # noqa: E402

PROFILES = ("course", "paper")
FOLDER = ROOT / "_build" / "dry-run"
FROM_CHECKOUT = ("standin", "FashionMNIST")  # what `make data` made, linked into each data root


def wait_for_background_runs(runs: Path, timeout: float = 600) -> list[Path]:
    """Wait until no training process a chapter started in the background (``train.pid``) is alive."""
    pid_files = [p for p in runs.glob("*/train.pid") if running(p)]
    deadline = time.monotonic() + timeout
    while any(running(p) for p in pid_files):
        if time.monotonic() > deadline:
            raise SystemExit(f"dry-run: the background run(s) {[rel(p.parent) for p in pid_files]} did not end "
                             f"within {timeout:.0f} s")
        time.sleep(1)
    return pid_files


def real_image_commands(runs: Path) -> None:
    """The README's pipeline on real images: ALEXNET_IMAGENET=fashion-mnist, prepare -> train -> evaluate."""
    commands = (["alexnet_lib.data.prepare"], ["alexnet_lib.train", "--profile", "paper", "--no-progress"],
                ["alexnet_lib.evaluate", "--checkpoint", str(runs / "paper-fashion-mnist" / "best.pt"), "--images", "64"])
    for command in commands:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", *command], env={**os.environ, "ALEXNET_IMAGENET": "fashion-mnist"},
                       check=True, stdout=subprocess.DEVNULL)
        print(f"dry-run paper: ALEXNET_IMAGENET=fashion-mnist python -m {command[0]:<26} "
              f"{time.perf_counter() - start:6.1f} s", flush=True)


def dry_run(profile: str, notebooks: list[Path], timeout: int) -> None:
    """One profile: its folder, its mirror, then every chapter in order, in this process's environment."""
    from alexnet_lib.data.archives import ILSVRC, serve, write_archives
    from alexnet_lib.data.standin import MARKER
    from execute_notebooks import execute

    folder = FOLDER / profile
    shutil.rmtree(folder, ignore_errors=True)
    data, runs, book, mirror = (folder / name for name in ("data", "runs", "book", "mirror"))
    for path in (data, runs, book):
        path.mkdir(parents=True)
    for name in FROM_CHECKOUT:
        (data / name).symlink_to(ROOT / "data" / name, target_is_directory=True)
    write_archives(mirror, ROOT / "data" / "standin")
    if profile == "paper":
        (data / "imagenet").mkdir()
        for name in (*ILSVRC, MARKER):
            shutil.copy(mirror / name, data / "imagenet" / name)
    with serve(mirror) as url:
        os.environ.update({
            "ALEXNET_PROFILE": profile, "ALEXNET_DRY_RUN": "1", "ALEXNET_DATA": str(data), "ALEXNET_RUNS": str(runs),
            "ALEXNET_DOWNLOAD_FROM": url, "ALEXNET_DRY_RUN_MD5SUMS": str(mirror / "MD5SUMS"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLS / "dry_run_site"), os.environ.get("PYTHONPATH")])),
        })
        total = time.perf_counter()
        for nb in notebooks:
            seconds = execute(nb.resolve(), timeout, out=book)
            print(f"dry-run {profile}: {rel(nb):40s} {seconds:6.1f} s", flush=True)
            if wait_for_background_runs(runs):  # the chapter started one: run it again once it has ended
                seconds = execute(nb.resolve(), timeout, out=book)
                print(f"dry-run {profile}: {rel(nb):40s} {seconds:6.1f} s (again, its background run done)", flush=True)
        if profile == "paper":
            real_image_commands(runs)
    print(f"dry-run {profile}: all {len(notebooks)} chapter(s) in {time.perf_counter() - total:.0f} s", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in _toc.yml")
    parser.add_argument("--profile", choices=PROFILES, help="one profile (default: both, side by side)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or toc_notebooks()
    if args.profile:
        dry_run(args.profile, notebooks, args.timeout)
        return 0
    start = time.perf_counter()

    def one(profile: str) -> int:
        command = [sys.executable, __file__, "--profile", profile, "--timeout", str(args.timeout), *map(str, notebooks)]
        return subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}).returncode

    with ThreadPoolExecutor(len(PROFILES)) as pool:
        codes = dict(zip(PROFILES, pool.map(one, PROFILES)))
    failed = [profile for profile, code in codes.items() if code]
    if failed:
        print(f"dry-run: FAILED under {', '.join(failed)} (its folder: {rel(FOLDER)}/<profile>/; "
              f"again: .venv/bin/python tools/dry_run.py --profile {failed[0]})", flush=True)
        return 1
    print(f"dry-run: every chapter ran under {' and '.join(PROFILES)} in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
