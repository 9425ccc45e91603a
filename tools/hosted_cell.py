#!/usr/bin/env python3
"""Write (or check) every chapter's first code cell: the one that makes it run alone on a hosted Jupyter.

    .venv/bin/python tools/hosted_cell.py           # write the cell into every notebook in _toc.yml
    .venv/bin/python tools/hosted_cell.py --check   # exit 1 if a chapter's cell is missing or stale

The repository it installs from is configured once, as ``repository.url`` in _config.yml (the
site's repository button and launch links read it too). The cell does nothing where `alexnet_lib`
imports (a checkout): it has no output there, so the stored notebooks do not change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import ROOT, rel, toc_notebooks  # noqa: E402

TAGS = ["hide-input"]
TEMPLATE = '''\
# Opened alone on a hosted Jupyter (Colab and the like), this cell installs the book's library from
# its repository, fetches the data the profile needs and says whether a GPU is attached. In a
# checkout of the book, where alexnet_lib imports, it does nothing.
import importlib.util

if importlib.util.find_spec("alexnet_lib") is None:
    import os, subprocess, sys

    BOOK = os.environ.get("ALEXNET_BOOK_REPOSITORY", "{url}")
    CLONE = os.path.expanduser("~/alexnet-book")
    if not os.path.isdir(CLONE):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", BOOK, CLONE], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--editable", CLONE + "[notebooks]"],
                   check=True)
    sys.path.insert(0, CLONE)
    importlib.invalidate_caches()
    from alexnet_lib.hosted import set_up

    set_up()'''


def cell_source() -> str:
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    return TEMPLATE.format(url=url)


def is_hosted_cell(cell) -> bool:
    return cell.cell_type == "code" and cell.source.startswith(TEMPLATE.splitlines()[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check; change nothing")
    args = parser.parse_args(argv)
    source, stale = cell_source(), []
    for path in toc_notebooks():
        nb = nbformat.read(path, as_version=4)
        first = next(i for i, cell in enumerate(nb.cells) if cell.cell_type == "code")
        cell = nb.cells[first]
        if is_hosted_cell(cell) and cell.source == source and cell.metadata.get("tags") == TAGS:
            continue
        stale.append(rel(path))
        if args.check:
            continue
        new = nbformat.v4.new_code_cell(source, metadata={"tags": TAGS})
        new["id"] = "hosted-setup"
        if is_hosted_cell(cell):
            new.execution_count, new.outputs = cell.execution_count, cell.outputs
            nb.cells[first] = new
        else:
            nb.cells.insert(first, new)
        nbformat.write(nb, path)
    if args.check and stale:
        print(f"hosted_cell: the first code cell of {', '.join(stale)} is not the hosted-Jupyter cell of "
              "_config.yml: run .venv/bin/python tools/hosted_cell.py", file=sys.stderr)
        return 1
    print(f"hosted_cell: {len(stale)} chapter(s) {'to update' if args.check else 'updated'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
