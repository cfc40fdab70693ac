"""Where the wanted CPython version comes from, in priority order: ``BP_CPYTHON_VERSION``,
``.python-version``, ``runtime.txt`` (Heroku's ``python-3.11.2``), ``requires-python`` in
``pyproject.toml`` (else the catalog's default)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cnbsdk.buildpack import BuildpackError
from cnbsdk.deps.planner import VersionRequest
from cnbsdk_python.project import PythonProject

_PEP440 = re.compile(r"^\s*(~=|===|==|!=|<=|>=|<|>)?\s*([0-9][0-9a-zA-Z.*+!-]*)\s*$")


def pep440_constraint(specifier: str, *, source: str = "requires-python") -> str:
    """A PEP 440 specifier set (``>=3.10,<3.13``, ``~=3.11``, ``==3.11.*``) as a catalog
    constraint (``>=3.10, <3.13``); a leading ``^``/``~`` (Poetry's forms) passes as is."""
    text = specifier.strip()
    if not text or text == "*":
        return ""
    if text[0] in "^~" and not text.startswith("~="):
        return text
    parts = []
    for clause in text.split(","):
        if not clause.strip():
            continue
        match = _PEP440.match(clause)
        if not match:
            raise BuildpackError(f"{source} {specifier!r}: {clause.strip()!r} is not a version")
        operator, version = match.group(1) or "", match.group(2)
        if operator == "~=":
            numbers = version.split(".")
            if len(numbers) < 2:
                raise BuildpackError(f"{source} {specifier!r}: ~= needs at least X.Y")
            parts.append(f">={version}")
            parts.append(".".join(numbers[:-1]) + ".*")
        elif operator in ("==", "==="):
            parts.append(version)
        else:
            parts.append(f"{operator}{version}")
    return ", ".join(parts)


def _first_line(path: Path) -> str:
    for line in path.read_text(errors="replace").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            return text
    return ""


def python_version_file(root: Path) -> VersionRequest | None:
    """``.python-version`` (pyenv's and uv's): ``3.11``, ``3.11.2``; ``cpython-3.11`` too."""
    path = root / ".python-version"
    if not path.is_file():
        return None
    value = _first_line(path)
    value = value.removeprefix("cpython-").removeprefix("python-")
    return VersionRequest(".python-version", value)


def runtime_txt(root: Path) -> VersionRequest | None:
    """Heroku's legacy ``runtime.txt``: ``python-3.11.2``."""
    path = root / "runtime.txt"
    if not path.is_file():
        return None
    value = _first_line(path)
    if not value.startswith("python-"):
        raise BuildpackError(f"expected 'python-X.Y.Z', got {value[:40]!r}", file=str(path))
    return VersionRequest("runtime.txt", value.removeprefix("python-"))


def version_requests(
    project: PythonProject, environ: Mapping[str, str]
) -> list[VersionRequest | None]:
    env = environ.get("BP_CPYTHON_VERSION", "").strip()
    requires = project.requires_python
    return [
        VersionRequest("BP_CPYTHON_VERSION", env) if env else None,
        python_version_file(project.root),
        runtime_txt(project.root),
        VersionRequest(
            'pyproject.toml "requires-python"',
            pep440_constraint(requires, source='pyproject.toml "requires-python"'),
        )
        if requires
        else None,
    ]
