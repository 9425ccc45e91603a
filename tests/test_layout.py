"""The library's layout: each module one idea a student can hold, and no two modules that import each other.

Imports are read from the source (every ``import`` and ``from ... import``, inside functions too),
so a circle hidden in a function-level import is found as well.
"""

import ast
from pathlib import Path

import alexnet_lib

LIB = Path(alexnet_lib.__file__).parent
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, name: str, modules: set[str], package: bool = False) -> set[str]:
    """The library modules that module ``name`` (of ``source``) imports."""
    package = name if package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + [node.module] if node.module else base)
            for alias in node.names:  # `from .models import towers` imports a module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return (found & modules) - {name}


def test_no_module_is_longer_than_a_student_can_hold():
    long = {module_name(p): n for p in LIB.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_circle():
    paths = {module_name(p): p for p in LIB.rglob("*.py")}
    graph = {name: imports_of(path.read_text(), name, set(paths), path.name == "__init__.py")
             for name, path in paths.items()}
    # A package's __init__ re-exporting its own submodules is not a circle: drop parent -> child edges.
    graph = {name: {d for d in deps if not d.startswith(name + ".")} for name, deps in graph.items()}
    done, circles = set(), []

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            if dep in path:
                circles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert not circles, f"import circles: {circles}"


def test_the_import_reader_sees_imports_inside_functions():
    """A check that could never fail proves nothing: the reader finds relative imports in a function."""
    source = "def f():\n    from .evaluate import evaluate\n    from . import train\n    import os\n"
    modules = {"alexnet_lib.evaluate", "alexnet_lib.train", "alexnet_lib.probe"}
    assert imports_of(source, "alexnet_lib.probe", modules) == {"alexnet_lib.evaluate", "alexnet_lib.train"}
