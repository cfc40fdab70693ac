"""The rooms of cnbsdk import one way (docs/architecture.md); this keeps that true."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cnbsdk"

# room -> the rooms it may import (besides itself and cnbsdk.errors / cnbsdk.__init__)
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
    "supply": {"spec", "oci", "stacks", "lifecycle"},
    "cli": {"*"},
}
# What a packaged buildpack carries in its lib/ (the vendored runtime) must import nothing else.
VENDORED_RUNTIME = {"spec", "deps", "buildpack"}


def _room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _imported_rooms(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    rooms: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "cnbsdk" and len(parts) > 1:
                rooms.add(parts[1])
    return rooms - {"errors"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_one_way(module: Path) -> None:
    room = _room_of(module)
    if room in {"__init__", "errors"}:
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
