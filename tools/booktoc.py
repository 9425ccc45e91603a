"""The book's pages in _toc.yml order; shared by the tools in this folder (not a script)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TOC = ROOT / "_toc.yml"
SUFFIXES = (".ipynb", ".md")


def _walk(node):
    if isinstance(node, dict):
        for key in ("root", "file"):
            if isinstance(node.get(key), str):
                yield node[key]
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def toc_docnames() -> list[str]:
    """Docnames as _toc.yml lists them ("book/01_introduction"), root first, no duplicates."""
    names = []
    for name in _walk(yaml.safe_load(TOC.read_text(encoding="utf8"))):
        name = name.removesuffix(".ipynb").removesuffix(".md")
        if name not in names:
            names.append(name)
    return names


def toc_sources() -> list[Path]:
    """The source file of every page in the toc; raises if one is missing."""
    sources = []
    for name in toc_docnames():
        found = [ROOT / f"{name}{s}" for s in SUFFIXES if (ROOT / f"{name}{s}").exists()]
        if not found:
            raise FileNotFoundError(f"_toc.yml lists {name!r} but neither {name}.ipynb nor {name}.md exists")
        sources.append(found[0])
    return sources


def toc_notebooks() -> list[Path]:
    """The notebooks (.ipynb) of the toc, in reading order."""
    return [p for p in toc_sources() if p.suffix == ".ipynb"]


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
