"""Run an experiment at a size, store it, and verify a stored result by re-running its start.

What an experiment is (its sizes, units, summary, claims rows, figure) is one `registry.Experiment`.
A ``full`` run is stored in ``results/NAME.json`` (and ``NAME.npz`` for its arrays), its finished
units kept as they finish so that an interrupted run resumes; a ``live`` run (what a chapter runs)
is never stored. One run of an experiment at a time: a second is refused (`RunLock`).
"""

from __future__ import annotations

import contextlib
import json
import time
from datetime import datetime, timezone

import torch
from tqdm.auto import tqdm

from ..config import Profile, display_path, dry_run, get_device, get_profile
from ..errors import AlexNetError
from ..expected import Expected
from ..files import write_atomic
from ..run_folder import RunLock
from .record import (check_arrays, library_digest, load_arrays, load_result, provenance, result_path, results_root,
                     save_arrays, save_result)
from .registry import experiment, registry


def _partial_path(name: str):
    return results_root() / f".{name}.partial.json"


def _unit_arrays_path(name: str, index: int):
    return results_root() / f".{name}.partial.{index}.npz"


def _lock(name: str) -> RunLock:
    results_root().mkdir(parents=True, exist_ok=True)
    return RunLock(results_root(), f".{name}.lock", who=f"run of experiment {name}",
                   instead="let it finish (it resumes where it stopped if interrupted)", tidy=False)


def _resumed(name: str, key: dict, progress: bool) -> tuple[list, list]:
    """The finished units (and their arrays) of an interrupted run of the same size and code."""
    partial = _partial_path(name)
    if not partial.exists():
        return [], []
    kept = json.loads(partial.read_text())
    if {k: kept.get(k) for k in key} != key:
        return [], []
    done = [(u, o) for u, o in kept["done"]]
    arrays = [load_arrays(_unit_arrays_path(name, i)) if o.pop("arrays", False) else {} for i, (_, o) in enumerate(done)]
    if progress:
        print(f"{name}: resuming after {len(done)} finished runs ({display_path(partial)})")
    return done, arrays


def _keep_partial(name: str, key: dict, done: list, arrays: list) -> None:
    """Write the finished units so far, so that an interrupted run resumes after them."""
    if arrays[-1]:
        save_arrays(_unit_arrays_path(name, len(done) - 1), arrays[-1])
    text = json.dumps({**key, "done": [(u, {**o, "arrays": bool(a)}) for (u, o), a in zip(done, arrays)]})
    write_atomic(_partial_path(name), lambda f: f.write(text), mode="w", then="run the experiment again")


def _todo(e, config: dict, done: list) -> list[dict]:
    """The units not run yet (a later stage's may depend on the earlier ones' outcomes)."""
    finished = [u for u, _ in done]
    return [u for u in e.units(config, done) if u not in finished]


def _run_units(e, config: dict, data, done: list, arrays: list, keep, label: str, device, progress: bool) -> None:
    """Run the units not in ``done`` (`_todo`), calling ``keep()`` after each."""
    bar = tqdm(desc=label, unit="run", disable=not progress, initial=len(done))
    with Expected(label, 0, device, warmup=0, timed=1, unit="run") as expected:
        while todo := _todo(e, config, done):
            bar.total = len(done) + len(todo)
            bar.refresh()
            expected.steps = expected.done + len(todo)  # the runs known now (a sweep's seeds come later)
            outcome = e.run_unit(config, todo[0], data)
            expected.step()
            arrays.append(outcome.pop("arrays", {}))
            done.append((todo[0], outcome))
            bar.update()
            keep()
    bar.close()


def run(name: str, size: str = "full", *, device=None, progress: bool = True, save: bool = True,
        dataset: str | None = None, config: dict | None = None) -> dict:
    """Run experiment ``name`` at ``size`` (``live`` or ``full``) and return its result.

    ``save`` (a ``full`` run only) stores it in ``results/NAME.json``, keeping finished units in
    ``results/.NAME.partial.json`` as they finish, so that an interrupted run, started again with the
    same size and code, picks up after the last finished unit. ``dataset`` replaces the size's
    (``cifar10``: what the chapters run under ``course`` and ``paper``); ``config`` replaces its
    settings altogether (a dry run's); neither is stored.
    """
    e = experiment(name)
    if save and size != "full":
        raise AlexNetError(f"A {size} run of {name} is not stored: results/{name}.json keeps the full result. "
                           "Pass save=False (the command line: run --size live only shows it).")
    if save and (config is not None or (dataset is not None and dataset != e.sizes[size].get("dataset", dataset))):
        raise AlexNetError(f"A run of {name} with settings or data of its own is not the stored result: pass save=False.")
    config = dict(config if config is not None else e.size(size))
    if dataset is not None and "dataset" in config:
        config["dataset"] = dataset
    device = torch.device(device) if device is not None else get_device()
    start = time.perf_counter()
    origin = provenance(f"python -m alexnet_lib.experiments run {name} --size {size}", device)
    with _lock(name) if save else contextlib.nullcontext():
        data = e.load(config, device)
        key = {"size": size, "config": config, "library": library_digest()}
        done, arrays = _resumed(name, key, progress) if save else ([], [])
        keep = (lambda: _keep_partial(name, key, done, arrays)) if save else (lambda: None)
        _run_units(e, config, data, done, arrays, keep, f"{name} ({size})", device, progress)
        result = {
            "name": name, "section": e.section, "claim": e.claim, "size": size,
            "data": data.info, "config": config, "metrics": e.summarise(config, done),
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
            _partial_path(name).unlink(missing_ok=True)
            for i in range(len(done)):
                _unit_arrays_path(name, i).unlink(missing_ok=True)
            if progress:
                print(f"{name}: wrote {display_path(path)} in {result['provenance']['wall_s'] / 60:.1f} min")
    return result


def full_result(name: str, profile: Profile | None = None) -> dict:
    """What a chapter shows as experiment ``name`` at full size: under ``smoke`` the stored result;
    under ``course`` and ``paper`` the full experiment run live on the profile's small dataset
    (CIFAR-10) and device, not stored (under `dry_run`: its ``live`` size, shrunk)."""
    profile = profile or get_profile()
    if profile.name == "smoke":
        return load_result(name)
    return run(name, "live" if dry_run() else "full", dataset=profile.small_dataset, save=False)


def live_result(name: str, profile: Profile | None = None) -> dict:
    """What a chapter runs live: experiment ``name`` at its ``live`` size on the profile's small
    dataset (Fashion-MNIST under ``smoke``, CIFAR-10 under ``course`` and ``paper``), shrunk under
    `dry_run`, not stored."""
    profile = profile or get_profile()
    return run(name, "live", dataset=profile.small_dataset, save=False, progress=False)


def _done(stored: dict) -> list:
    return [(u["unit"], {k: v for k, v in u.items() if k != "unit"}) for u in stored["units"]]


def _config_changed(name: str, stored: dict) -> str | None:
    """Why a stored result's config is no longer its experiment's size of that name, or None."""
    if experiment(name).sizes.get(stored["size"]) == stored["config"]:
        return None
    return (f"{display_path(result_path(name))}: its config is not the {stored['size']!r} size of "
            f"alexnet_lib/experiments/{name}.py any more: run the experiment again.")


def _metrics_today(name: str, stored: dict) -> dict:
    """What today's ``summarise`` makes of a stored result's runs, as its JSON keeps it."""
    return json.loads(json.dumps(experiment(name).summarise(stored["config"], _done(stored))))


def _stale(name: str, stored: dict) -> str | None:
    """Why a stored result no longer matches its experiment's code, or None."""
    if (changed := _config_changed(name, stored)) is not None:
        return changed
    if _metrics_today(name, stored) != stored["metrics"]:
        return (f"{display_path(result_path(name))}: its metrics are not what summarise() in "
                f"alexnet_lib/experiments/{name}.py makes of its runs today: "
                f"`python -m alexnet_lib.experiments summarise {name}` re-summarises them.")
    return None


def resummarise(name: str) -> bool:
    """Recompute a stored result's metrics from its stored runs with today's ``summarise`` (its
    statistics changed, not its runs) and seal it again; ``provenance.summarised`` says when and
    with which code. False if they were already today's. Its config must still be its size's."""
    stored = load_result(name)
    check_arrays(stored)
    if (changed := _config_changed(name, stored)) is not None:
        raise AlexNetError(changed)
    metrics = _metrics_today(name, stored)
    if metrics == stored["metrics"]:
        return False
    stored = {k: v for k, v in stored.items() if k != "digest"}
    stored["metrics"] = metrics
    stored["provenance"]["summarised"] = {"library": library_digest(),
                                          "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    save_result(stored)
    return True


def verify(name: str, *, device=None) -> tuple[list[str], dict]:
    """Re-run the first epoch of a stored result's first unit and compare.

    Returns the mismatches (empty when it holds) and what was compared: ``{"numbers": how many,
    "largest": the largest difference, "tolerance": the experiment's}``.

    Also fails, in one line, a result that is missing, unreadable or edited (its digest, or its
    arrays' SHA-256), whose config is not the experiment's size of that name any more, or whose
    metrics are not what ``summarise`` makes of its stored runs today.
    """
    e = experiment(name)
    compared = {"numbers": 0, "largest": 0.0, "tolerance": e.tolerance}
    try:
        stored = load_result(name)
        check_arrays(stored)
    except AlexNetError as err:
        return [str(err)], compared
    if (stale := _stale(name, stored)) is not None:
        return [stale], compared
    config = stored["config"]
    data = e.load(config, torch.device(device) if device is not None else get_device())
    first = stored["units"][0]
    fresh = e.run_unit(config, first["unit"], data, epochs=1)
    problems = []
    for key, values in fresh.items():
        for i, (now, then) in enumerate(zip(values, first[key])):
            now, then = (now[-1], then[-1]) if isinstance(now, (list, tuple)) else (now, then)
            compared["numbers"] += 1
            compared["largest"] = max(compared["largest"], abs(now - then))
            if not abs(now - then) <= e.tolerance:
                problems.append(f"{name}: {key}[{i}] of run {first['unit']} is {now:.4f} re-run, "
                                f"{then:.4f} stored (tolerance {e.tolerance})")
    return problems, compared


def names() -> tuple[str, ...]:
    """Every experiment's name, in the paper's order."""
    return tuple(registry())
