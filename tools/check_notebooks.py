#!/usr/bin/env python3
"""Check that the book's notebooks are committed *executed*, cleanly, top to bottom.

    .venv/bin/python tools/check_notebooks.py [NOTEBOOK ...]    # default: every notebook in _toc.yml

`pytest --nbval` compares only cells that have run: a notebook stripped of its outputs "passes"
while checking nothing. So, per notebook: a kernelspec in the metadata; every non-empty code cell
has an execution_count and the counts run 1, 2, ..., n in order (one kernel, top to bottom); no
error output; widget outputs come with stored widget state (else they are blank on the site); and
the metadata says it was executed as nbval re-runs it (tools/execute_notebooks.py's `STORED`:
smoke, one thread, on the CPU): outputs made otherwise (two threads, a GPU, another profile) need
not hold under nbval.
Prints one line per notebook; exits 1 if any check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import rel, toc_notebooks  # noqa: E402
from execute_notebooks import EXECUTED, STORED  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
FIX = ("run `make execute` (or .venv/bin/python tools/execute_notebooks.py NOTEBOOK) under the default smoke "
       "profile and commit the outputs")


def problems(path: Path) -> tuple[list[str], int]:
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # unreadable JSON, bad nbformat
        return [f"cannot read: {exc}"], 0
    found = []
    if not nb.metadata.get("kernelspec", {}).get("name"):
        found.append("no kernelspec in the notebook metadata")
    executed = nb.metadata.get(EXECUTED)
    if executed is None:
        found.append(f"no record of how it was executed (metadata {EXECUTED!r})")
    elif executed != STORED:
        found.append(_otherwise(executed))

    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]
    counts = [c.get("execution_count") for _, c in code]
    unexecuted = [i for (i, c) in code if c.get("execution_count") is None]
    if unexecuted:
        found.append(f"{len(unexecuted)} of {len(code)} code cells never executed (cells {_short(unexecuted)})")
    elif counts != list(range(1, len(code) + 1)):
        found.append(f"execution counts are {_short(counts)}, not 1..{len(code)}: not run top to bottom in one kernel")

    for i, cell in code:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i} has an error output: {out.get('ename')}: {out.get('evalue')}")
    has_views = any(WIDGET_VIEW in out.get("data", {}) for _, c in code for out in c.get("outputs", []))
    if has_views and WIDGET_STATE not in nb.metadata.get("widgets", {}):
        found.append("widget outputs but no stored widget state (they would be blank on the site)")
    return found, len(code)


def _otherwise(executed: dict) -> str:
    """Where ``executed`` differs from `STORED`, in shell assignments."""
    names = sorted(name for name in {*executed, *STORED} if executed.get(name) != STORED.get(name))

    def shown(env):
        return " ".join(f"{name}={env[name]}" if name in env else f"{name} unset" for name in names)

    return f"executed with {shown(executed)}, not as nbval re-runs it ({shown(STORED)})"


def _short(items, n=8):
    items = list(items)
    return ", ".join(map(str, items[:n])) + (", ..." if len(items) > n else "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    notebooks = [Path(a) for a in argv] or toc_notebooks()
    if not notebooks:
        print("check_notebooks: no notebooks in _toc.yml")
        return 1
    failed = 0
    for path in notebooks:
        found, n = problems(path)
        if found:
            failed += 1
            print(f"FAIL {rel(path)}: {'; '.join(found)}")
        else:
            print(f"ok   {rel(path)}: {n} code cells executed 1..{n} as nbval re-runs them, no errors")
    if failed:
        print(f"check_notebooks: {failed} of {len(notebooks)} notebook(s) failed; {FIX}")
        return 1
    print(f"check_notebooks: all {len(notebooks)} notebook(s) executed top to bottom")
    return 0


if __name__ == "__main__":
    sys.exit(main())
