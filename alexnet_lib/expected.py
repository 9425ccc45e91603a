"""How long a long loop will take on this device, said at its start, from its own first steps.

A reader who opens a chapter on a CPU that was sized for a GPU should learn in seconds, not after
the hour, that a cell will take an hour. `Expected` times the first steps of a loop (training
steps, the runs of an experiment) and prints one line, once, when the whole loop will take more
than `NOTICE_AFTER_S`: what, about how long, on which device, and the rate it measured.

    expected = Expected("training for 30 epochs", steps=30 * steps_per_epoch)
    for images, labels in batches:
        ...  # one step
        expected.step()

`timed(items, what)` does the same for a loop over whole runs (the seeds of a chapter's cell),
timing its first item. A loop inside an open one (``with Expected(...)``, or `timed`) that has
already measured says nothing: the outer line covers it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator

import torch
from tqdm import tqdm

from .config import device_name, get_device

NOTICE_AFTER_S = 60  # a loop expected to finish sooner says nothing

_open: list[Expected] = []  # the timed loops running now, outermost first


def _duration(seconds: float) -> str:
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class Expected:
    """Times steps ``warmup + 1`` to ``warmup + timed`` of a loop of ``steps`` steps and, when the whole
    loop will take over `NOTICE_AFTER_S`, prints how long: ``expected: about 14 min for training
    for 30 epochs on CPU (...) (0.52 s a step, 1,620 steps)``. The first ``warmup`` steps (memory
    allocation, kernel selection) are not timed, but their time is counted. On CUDA it waits for the
    GPU at the two timing points, so that the steps it times have run."""

    def __init__(self, what: str, steps: int, device=None, *, warmup: int = 1, timed: int = 3,
                 unit: str = "step"):
        self.what, self.steps, self.warmup, self.timed, self.unit = what, steps, warmup, timed, unit
        self.device = torch.device(device) if device is not None else get_device()
        self.done, self.seconds = 0, None  # steps so far; the expected total, once measured
        self.begun = self.timer = time.perf_counter()
        self.quiet = any(loop.seconds is not None for loop in _open)

    def __enter__(self) -> Expected:
        _open.append(self)  # the loops it contains stay quiet once it has measured
        return self

    def __exit__(self, *exc) -> None:
        _open.remove(self)

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def step(self) -> None:
        """Count one finished step (cheap: it looks at the clock only at the two timing points)."""
        self.done += 1
        if self.seconds is not None or self.done < self.warmup:
            return
        if self.done == self.warmup:
            self.timer = self._now()
        elif self.done == self.warmup + self.timed or self.done == self.steps:
            now = self._now()
            rate = (now - self.timer) / (self.done - self.warmup)
            self.seconds = (self.timer - self.begun) + rate * (self.steps - self.warmup)
            if self.seconds > NOTICE_AFTER_S and not self.quiet:
                # tqdm.write: on a terminal, the line goes above a running progress bar, not into it
                tqdm.write(f"expected: about {_duration(self.seconds)} for {self.what} on {device_name(self.device)} "
                           f"({rate:.2g} s a {self.unit}, {self.steps:,} {self.unit}s)")
                sys.stdout.flush()  # a log file (a background run's train.out) has it at once


def timed(items: Iterable, what: str, device=None) -> Iterator:
    """``items``, one at a time, saying after the first how long all of them will take (`Expected`)."""
    items = list(items)
    with Expected(what, len(items), device, warmup=0, timed=1, unit="run") as expected:
        for item in items:
            yield item
            expected.step()
