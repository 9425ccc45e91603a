"""Run an experiment at a size, store it, and verify a stored result by re-running its start.

An experiment is a module of this package with:

* ``SECTION``, ``CLAIM`` (the paper's claim, one line), ``TOLERANCE`` (how far a re-run's first
  epoch may differ from the stored one on another CPU or a GPU: float32 sums round differently);
* ``SIZES``: ``{"live": config, "full": config}``, each a JSON-able dict;
* ``load(config, device)``: its data (`datasets.SmallData`);
* ``units(config, done)``: the independent runs (a seed, a variant, a learning rate), as dicts;
  ``done`` is the list of (unit, outcome) finished so far, so that a later stage (the seeds of the
  learning rate a sweep chose) can depend on an earlier one;
* ``run_unit(config, unit, data, epochs=None)``: one run, returning its curves, each a list with
  one entry per epoch (or finer); ``epochs=1`` gives the same first entries as the whole run;
* ``summarise(config, done)``: every number the chapter quotes, and its ``verdict``.

A unit's outcome may also hold ``"arrays"``, a dict of numpy arrays (trained weights, kernels):
they go to ``results/NAME.npz`` instead of the JSON (`record.save_arrays`), the first unit's under
their own names and unit i's (i > 0) under ``NAME.i``.
"""

from __future__ import annotations

import json
import time
from importlib import import_module

import torch
from tqdm.auto import tqdm

from ..config import Profile, display_path, dry_run, get_device, get_profile, shrink
from ..errors import AlexNetError
from ..expected import Expected
from ..files import write_atomic
from .record import (library_digest, load_arrays, load_result, provenance, result_path, results_root,
                     save_arrays, save_result)

NAMES = ("figure1", "lrn", "pooling", "views", "dropout", "inits", "alexnet224", "table2", "figure3", "figure4", "depth")  # in the paper's order


def experiment(name: str):
    """The module of experiment ``name``."""
    if name not in NAMES:
        raise AlexNetError(f"No experiment {name!r}: choose from {', '.join(NAMES)}.")
    return import_module(f".{name}", __package__)


def _partial_path(name: str):
    return results_root() / f".{name}.partial.json"


def _unit_arrays_path(name: str, index: int):
    return results_root() / f".{name}.partial.{index}.npz"


def run(name: str, size: str = "full", *, device=None, progress: bool = True, save: bool = True,
        dataset: str | None = None, config: dict | None = None) -> dict:
    """Run experiment ``name`` at ``size`` (``live`` or ``full``) and return its result.

    ``dataset`` replaces the size's (``cifar10``: what the chapters run under the ``course`` and
    ``paper`` profiles); such a run is not stored (``save`` must be False). An experiment whose
    config names no dataset (its data is always the same) ignores it. ``config`` replaces the
    size's settings altogether (a dry run's smaller ones; not stored either).
    With ``save`` the result goes to ``results/NAME.json``; finished units are kept in
    ``results/.NAME.partial.json`` as they finish, so an interrupted run, started again with the
    same size and code, picks up after the last finished unit.
    """
    module = experiment(name)
    if size not in module.SIZES:
        raise AlexNetError(f"Experiment {name} has no size {size!r}: choose from {', '.join(module.SIZES)}.")
    if config is not None and save:
        raise AlexNetError(f"A run of {name} with settings of its own is not the stored result: pass save=False.")
    config = dict(config if config is not None else module.SIZES[size])
    if dataset is not None and "dataset" in config and dataset != config["dataset"]:
        if save:
            raise AlexNetError(f"A run of {name} on {dataset} is not the stored result: pass save=False.")
        config["dataset"] = dataset
    device = torch.device(device) if device is not None else get_device()
    start = time.perf_counter()
    origin = provenance(f"python -m alexnet_lib.experiments run {name} --size {size}", device)
    data = module.load(config, device)
    done, arrays, key = [], [], {"size": size, "config": config, "library": library_digest()}
    partial = _partial_path(name)
    if save and partial.exists():
        kept = json.loads(partial.read_text())
        if {k: kept.get(k) for k in key} == key:
            done = [(u, o) for u, o in kept["done"]]
            arrays = [load_arrays(_unit_arrays_path(name, i)) if o.pop("arrays", False) else {}
                      for i, (_, o) in enumerate(done)]
            if progress:
                print(f"{name}: resuming after {len(done)} finished runs ({display_path(partial)})")
    bar = tqdm(desc=f"{name} ({size})", unit="run", disable=not progress, initial=len(done))
    expected = Expected(f"{name} ({size})", 0, device, warmup=0, timed=1, unit="run")
    with expected:
        while True:
            todo = [u for u in module.units(config, done) if u not in [u for u, _ in done]]
            bar.total = len(done) + len(todo)
            bar.refresh()
            if not todo:
                break
            expected.steps = expected.done + len(todo)  # the runs known now (a sweep's seeds come later)
            outcome = module.run_unit(config, todo[0], data)
            expected.step()
            arrays.append(outcome.pop("arrays", {}))
            done.append((todo[0], outcome))
            bar.update()
            if save:
                partial.parent.mkdir(parents=True, exist_ok=True)
                if arrays[-1]:
                    save_arrays(_unit_arrays_path(name, len(done) - 1), arrays[-1])
                text = json.dumps({**key, "done": [(u, {**o, "arrays": bool(a)}) for (u, o), a in zip(done, arrays)]})
                write_atomic(partial, lambda f: f.write(text), mode="w", then="run the experiment again")
    bar.close()
    result = {
        "name": name, "section": module.SECTION, "claim": module.CLAIM, "size": size,
        "data": data.info, "config": config, "metrics": module.summarise(config, done),
        "units": [{"unit": u, **o} for u, o in done],
        "provenance": {**origin, "wall_s": round(time.perf_counter() - start, 1)},
    }
    merged = {(k if i == 0 else f"{k}.{i}"): v for i, a in enumerate(arrays) for k, v in a.items()}
    if merged:
        result["arrays"] = {"file": f"{name}.npz", "keys": sorted(merged)}
        if save:
            result["arrays"]["sha256"] = save_arrays(results_root() / f"{name}.npz", merged)
        else:
            result["arrays"]["values"] = merged
    if save:
        path = save_result(result)
        partial.unlink(missing_ok=True)
        for i in range(len(done)):
            _unit_arrays_path(name, i).unlink(missing_ok=True)
        if progress:
            print(f"{name}: wrote {display_path(path)} in {result['provenance']['wall_s'] / 60:.1f} min")
    return result


def full_result(name: str, profile: Profile | None = None) -> dict:
    """What a chapter shows as experiment ``name`` at full size: under ``smoke`` the stored result;
    under ``course`` and ``paper`` the full experiment run live on the profile's small dataset
    (CIFAR-10) and device, not stored (under `dry_run`: its ``live`` size, `shrink`-ed)."""
    profile = profile or get_profile()
    if profile.name == "smoke":
        return load_result(name)
    if dry_run():
        return run(name, "live", dataset=profile.small_dataset, save=False,
                   config=shrink(experiment(name).SIZES["live"]))
    return run(name, "full", dataset=profile.small_dataset, save=False)


def verify(name: str, *, device=None) -> tuple[list[str], dict]:
    """Re-run the first epoch of a stored result's first unit and compare.

    Returns the mismatches (empty when it holds) and what was compared: ``{"numbers": how many,
    "largest": the largest difference, "tolerance": the experiment's}``.

    Also fails a result whose digest no longer matches (edited by hand), whose config is not the
    experiment's size of that name any more, or whose metrics are not what ``summarise`` makes of
    its stored runs today (the code was changed since: run it again).
    """
    compared = {"numbers": 0, "largest": 0.0, "tolerance": experiment(name).TOLERANCE}
    try:
        stored = load_result(name)
    except AlexNetError as err:
        return [str(err)], compared
    module = experiment(name)
    config = stored["config"]
    if module.SIZES.get(stored["size"]) != config:
        return [f"{display_path(result_path(name))}: its config is not SIZES[{stored['size']!r}] of "
                f"alexnet_lib/experiments/{name}.py any more: run the experiment again."], compared
    done = [(u["unit"], {k: v for k, v in u.items() if k != "unit"}) for u in stored["units"]]
    if json.loads(json.dumps(module.summarise(config, done))) != stored["metrics"]:
        return [f"{display_path(result_path(name))}: its metrics are not what summarise() in "
                f"alexnet_lib/experiments/{name}.py makes of its runs today: run the experiment again."], compared
    data = module.load(config, torch.device(device) if device is not None else get_device())
    first = stored["units"][0]
    fresh = module.run_unit(config, first["unit"], data, epochs=1)
    problems = []
    for key, values in fresh.items():
        for i, (now, then) in enumerate(zip(values, first[key])):
            now, then = (now[-1], then[-1]) if isinstance(now, (list, tuple)) else (now, then)
            compared["numbers"] += 1
            compared["largest"] = max(compared["largest"], abs(now - then))
            if not abs(now - then) <= module.TOLERANCE:
                problems.append(f"{name}: {key}[{i}] of run {first['unit']} is {now:.4f} re-run, "
                                f"{then:.4f} stored (tolerance {module.TOLERANCE})")
    return problems, compared
