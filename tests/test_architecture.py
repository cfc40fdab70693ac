"""The rooms of cnbsdk import one way (docs/architecture.md), and no modules import each
other in a circle; this keeps that true. Every import counts: relative ones and those
deferred into a function too."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnbsdk"

# Plain helpers at the bottom that every room may import; they import nothing of cnbsdk.
BOTTOM = {"errors", "progress", "cache_dir"}
# room -> the rooms it may import (besides itself, the BOTTOM modules and cnbsdk.__init__)
ALLOWED: dict[str, set[str]] = {
    "spec": set(),
    "oci": set(),
    "deps": {"spec"},
    "buildpack": {"spec", "deps"},
    "stacks": {"spec", "oci"},
    "distribution": {"spec", "deps", "buildpack", "oci", "stacks"},
    "lifecycle": {"spec", "deps", "buildpack", "oci", "stacks", "distribution"},
    "testing": {"spec", "deps", "buildpack", "distribution", "lifecycle", "oci"},
    "scaffold": {"spec"},
    "catalog": {"spec", "deps", "stacks"},
    "keep": {"spec", "deps", "buildpack", "oci", "stacks", "distribution", "lifecycle"},
    "supply": {"spec", "oci", "stacks", "lifecycle"},
    "cli": {"*"},
}
# What a packaged buildpack carries in its lib/ (the vendored runtime) must import nothing else.
VENDORED_RUNTIME = {"spec", "deps", "buildpack"}


def _room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _module_name(path: Path) -> str:
    parts = ["cnbsdk", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(path: Path, source: str | None = None) -> set[str]:
    """Every dotted name ``path`` (or ``source`` as if it were ``path``) imports: ``from a
    import b`` gives ``a`` and ``a.b``; relative imports are resolved against the module's
    own package."""
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source)
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _imported_rooms(path: Path) -> set[str]:
    rooms: set[str] = set()
    for name in _imported_names(path):
        parts = name.split(".")
        if parts[0] == "cnbsdk" and len(parts) > 1 and _is_room(parts[1]):
            rooms.add(parts[1])
    return rooms - BOTTOM


def _is_room(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@cache
def _import_graph() -> dict[str, frozenset[str]]:
    """module -> the modules of cnbsdk it imports (packages count as their __init__)."""
    modules = {_module_name(p): p for p in _modules()}
    return {
        name: frozenset(n for n in _imported_names(path) if n in modules and n != name)
        for name, path in modules.items()
    }


def _circles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(module: Path) -> None:
    room = _room_of(module)
    if room in {"__init__", *BOTTOM}:
        assert _imported_rooms(module) <= set(), f"{module} must import nothing of cnbsdk"
        return
    allowed = ALLOWED.get(room)
    assert allowed is not None, f"{room!r} is a new room: add it to docs/architecture.md and here"
    if "*" in allowed:
        return
    wrong = _imported_rooms(module) - allowed - {room}
    assert not wrong, f"{module.relative_to(PACKAGE)} ({room}) imports {sorted(wrong)}"


def test_nothing_imports_the_cli() -> None:
    offenders = [
        str(m.relative_to(PACKAGE))
        for m in _modules()
        if _room_of(m) != "cli" and "cli" in _imported_rooms(m)
    ]
    assert offenders == []


def test_vendored_runtime_is_self_contained() -> None:
    for module in _modules():
        room = _room_of(module)
        if room in VENDORED_RUNTIME:
            outside = _imported_rooms(module) - VENDORED_RUNTIME
            assert not outside, f"{module.relative_to(PACKAGE)} imports {sorted(outside)}"


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert _circles(_import_graph()) == []


def test_the_checks_see_circles_and_relative_and_deferred_imports() -> None:
    graph = {
        "cnbsdk.x.a": frozenset({"cnbsdk.x.b"}),
        "cnbsdk.x.b": frozenset({"cnbsdk.x.c"}),
        "cnbsdk.x.c": frozenset({"cnbsdk.x.a"}),
        "cnbsdk.x.d": frozenset({"cnbsdk.x.a"}),
    }
    assert _circles(graph) == [["cnbsdk.x.a", "cnbsdk.x.b", "cnbsdk.x.c"]]
    source = (
        "from . import order\nfrom ..oci.image import Manifest\ndef f():\n    import cnbsdk.cli\n"
    )
    names = _imported_names(PACKAGE / "lifecycle" / "example.py", source)
    assert {"cnbsdk.lifecycle.order", "cnbsdk.oci.image", "cnbsdk.cli"} <= names
