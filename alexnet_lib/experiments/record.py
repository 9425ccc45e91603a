"""Stored experiment results: ``results/NAME.json`` with provenance, sealed by a digest.

A full-size experiment runs once, outside the notebooks, and is kept (README.md, "Stored
results"). The JSON holds what the run was (``name``, ``size``, ``data``, ``config``), what
it measured (``metrics``: every number a chapter quotes, and ``units``: each run's curves, which
`verify` re-runs the start of) and where it came from (``provenance``). ``digest`` is a SHA-256 of
the rest: a number changed by hand no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ..config import IN_CHECKOUT, INSTALLED_COPY_HINT, REPO_ROOT, device_name, display_path
from ..errors import AlexNetError
from ..files import write_atomic

RESULTS = REPO_ROOT / "results"


def results_root() -> Path:
    """Where stored results live: the repository's ``results/`` folder."""
    return RESULTS


def _git(*args: str) -> str | None:
    if not IN_CHECKOUT:
        return None  # an installed copy: the current folder's git, if any, is not this code's
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout (an installed copy): provenance says so with None


def library_digest() -> str:
    """The first 12 hex digits of a SHA-256 over every ``alexnet_lib/*.py``: which code ran."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parents[1]
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def cpu_name() -> str:
    """The CPU's model name and the vector unit torch's kernels use (e.g. AVX512, AVX2)."""
    model = platform.processor() or platform.machine()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        model = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model} ({torch.backends.cpu.get_cpu_capability()} kernels)"


def provenance(command: str, device: torch.device) -> dict:
    """Where a result comes from, taken as it starts: command, commit (and whether the tree had
    changes), code digest, torch, device, CPU, start time (UTC); the runner adds the wall time."""
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results")
    return {
        "command": command,
        "commit": _git("rev-parse", "--short=12", "HEAD"),
        "dirty": None if status is None else bool(status),
        "library": library_digest(),
        "torch": torch.__version__,
        "device": device_name(device),
        "cpu": cpu_name(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def digest(result: dict) -> str:
    """SHA-256 of the result without its ``digest`` key, as canonical JSON."""
    body = {k: v for k, v in result.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def result_path(name: str) -> Path:
    return results_root() / f"{name}.json"


def save_result(result: dict) -> Path:
    """Seal ``result`` with its digest and write ``results/NAME.json`` whole or not at all."""
    result = {**result, "digest": digest(result)}
    path = result_path(result["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1) + "\n"
    write_atomic(path, lambda f: f.write(text), mode="w",
                 then=f"run `python -m alexnet_lib.experiments run {result['name']}` again")
    return path


def load_result(name: str) -> dict:
    """``results/NAME.json``, checked against its digest; a clear error if missing or edited."""
    path = result_path(name)
    if not path.exists():
        raise AlexNetError(
            f"No stored result {display_path(path)}: make it with "
            f"`python -m alexnet_lib.experiments run {name} --size full` (or `make results`)."
            + INSTALLED_COPY_HINT
        )
    try:
        result = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AlexNetError(
            f"{display_path(path)} is not readable JSON ({err.__class__.__name__} at {getattr(err, 'pos', '?')}: "
            f"a truncated or damaged copy). Restore it (git checkout {display_path(path)}) or run the experiment again."
        ) from None
    if not isinstance(result, dict) or result.get("digest") != digest(result):
        raise AlexNetError(
            f"{display_path(path)} does not match its digest: its numbers were changed after the run. "
            f"Restore it (git checkout {display_path(path)}) or run the experiment again."
        )
    return result


def save_arrays(path: Path, arrays: dict) -> str:
    """Write numpy ``arrays`` to the ``.npz`` file ``path`` whole or not at all; returns its SHA-256,
    which the result's JSON keeps (so the digest covers the arrays too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez_compressed(f, **arrays),
                 then="run the experiment again")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_sha256(path: Path, sha256: str) -> None:
    if not path.exists():
        raise AlexNetError(f"No stored arrays {display_path(path)}: restore it (git checkout {display_path(path)}) "
                           "or run the experiment that makes them again.")
    if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
        raise AlexNetError(
            f"{display_path(path)} does not match the SHA-256 its result's JSON keeps: restore it "
            f"(git checkout {display_path(path)}) or run the experiment again."
        )


def check_arrays(result: dict) -> None:
    """A stored result's ``.npz`` file, if it has one, is there and is the one it was stored with."""
    info = result.get("arrays")
    if info is not None and "values" not in info:
        _check_sha256(results_root() / info["file"], info["sha256"])


def load_arrays(path: Path, sha256: str | None = None) -> dict:
    """The arrays of an ``.npz`` file, checked against ``sha256`` when given."""
    if sha256 is not None:
        _check_sha256(path, sha256)
    elif not path.exists():
        raise AlexNetError(f"No stored arrays {display_path(path)}: run the experiment that makes them again.")
    with np.load(path) as file:
        return {k: file[k] for k in file.files}


def result_arrays(result: dict | str) -> dict:
    """The arrays of a result: of a stored one (a name, or its loaded JSON) from ``results/NAME.npz``,
    checked against the SHA-256 its JSON keeps; of one run here and not stored, from memory."""
    result = load_result(result) if isinstance(result, str) else result
    info = result.get("arrays")
    if info is None:
        raise AlexNetError(f"The result {result['name']} keeps no arrays.")
    if "values" in info:
        return info["values"]
    return load_arrays(results_root() / info["file"], info["sha256"])


def provenance_line(result: dict) -> str:
    """One line a chapter prints beside a result: data and size, and for a stored one the device,
    time, torch and commit. A result run here and not stored gets the data and size alone (the
    same on every machine, so that the chapter's stored output holds)."""
    p, d = result["provenance"], result["data"]
    data = d["name"] if d["real"] else f"{d['name']} (generated stand-in, not real data)"
    images = f"{d['train_images']:,} training" + (f" + {d['test_images']:,} test" if d["test_images"] else "") + " images"
    if "digest" not in result:
        return f"{result['name']}, run here ({result['size']} size): {data}, {images}"
    device = p["device"]
    if device.startswith("CPU"):  # "CPU (x86_64, 1 thread)": name the CPU model and its kernels instead
        device = f"{p['cpu']}, {device.rsplit(', ', 1)[-1].rstrip(')')}"
    commit = f"{p['commit']}{' + changes' if p['dirty'] else ''}" if p["commit"] else "no git"
    return (f"stored result results/{result['name']}.json ({result['size']} size): {data}, {images}; {device}, "
            f"{p['wall_s'] / 60:.1f} min, torch {p['torch']}, commit {commit}, {p['started'][:10]}")
