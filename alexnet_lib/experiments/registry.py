"""The book's experiments, each one `Experiment`, found in this package in the paper's order.

An experiment is a module of this package that ends with ``EXPERIMENT = Experiment(...)``: adding
one touches its module, its stored result and its chapter, nothing else. `runner` (run, verify),
`claims` (the claims page), the command line (``list``) and the dry run all read `registry`.
"""

from __future__ import annotations

import pkgutil
import re
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import Callable

from ..config import dry_run, shrink
from ..errors import AlexNetError

Row = tuple[str, str, str, str]  # one line of the claims page: the claim, the paper's number, the book's, verdict


@dataclass
class Experiment:
    """Everything about one experiment of the book.

    * ``sizes``: ``{"live": ..., "full": ...}``, each a JSON-able dict. ``live`` is what its chapter
      runs under nbval, ``full`` the stored result; under a dry run (`config.shrink`) every key is
      capped by ``DRY_RUN_SIZES`` or kept (``DRY_RUN_KEEPS`` and ``keep``), and any other is an error.
    * ``tolerance``: how far a re-run's first epoch may differ from the stored one on another CPU
      or a GPU (float32 sums round differently).
    * ``load(config, device)``: its data. ``units(config, done)``: the independent runs (a seed, a
      variant), as dicts; ``done``, the (unit, outcome) pairs finished so far, lets a later stage
      depend on an earlier one. ``run_unit(config, unit, data, epochs=None)``: one run, its curves
      one entry per epoch (or finer); ``epochs=1`` gives the whole run's first entries. An outcome
      may hold ``"arrays"`` (numpy arrays: weights, kernels), kept in ``results/NAME.npz``.
    * ``summarise(config, done)``: every number the chapter quotes, with its verdicts.
    * ``rows(metrics)``: its lines of the claims page. ``figure(result)``: the figure that shows a result.
    """

    name: str
    section: str  # the paper's section, "§3.3"
    chapter: str  # the notebook that shows it, "05_lrn"
    claim: str  # the paper's claim, one line
    sizes: dict[str, dict]
    tolerance: float
    load: Callable
    units: Callable
    run_unit: Callable
    summarise: Callable[[dict, list], dict]
    rows: Callable[[dict], list[Row]]
    figure: Callable | None = None
    keep: tuple[str, ...] = ()  # settings of its own that a dry run keeps as they are

    def size(self, size: str) -> dict:
        """The settings of ``size`` (``live`` or ``full``), shrunk under a dry run."""
        if size not in self.sizes:
            raise AlexNetError(f"Experiment {self.name} has no size {size!r}: choose from {', '.join(self.sizes)}.")
        return shrink(self.sizes[size], self.keep) if dry_run() else dict(self.sizes[size])


def _paper_order(e: Experiment) -> tuple:
    return tuple(int(n) for n in re.match(r"§([\d.]+)", e.section).group(1).split(".")), e.name


@cache
def registry() -> dict[str, Experiment]:
    """Every experiment of this package by name, in the order of the paper's sections."""
    found = []
    for info in pkgutil.iter_modules(import_module(__package__).__path__):
        module = import_module(f"{__package__}.{info.name}")
        if isinstance(getattr(module, "EXPERIMENT", None), Experiment):
            found.append(module.EXPERIMENT)
    return {e.name: e for e in sorted(found, key=_paper_order)}


def experiment(name: str) -> Experiment:
    """The experiment called ``name``."""
    experiments = registry()
    if name not in experiments:
        raise AlexNetError(f"No experiment {name!r}: choose from {', '.join(experiments)}.")
    return experiments[name]
