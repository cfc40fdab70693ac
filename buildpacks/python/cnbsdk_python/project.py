"""What the app is: its Python files, which installer its files call for, and what
``pyproject.toml`` says. No I/O beyond reading the app's files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError
from cnbsdk.spec.toml_file import read_toml

# Any of these makes the app a Python app (detect passes; a build with nothing to install
# still gives the interpreter, and an unsupported one fails with a clear message).
MARKERS = (
    "requirements.txt",
    "pyproject.toml",
    "uv.lock",
    "poetry.lock",
    "setup.py",
    "setup.cfg",
    ".python-version",
    "runtime.txt",
    "Pipfile",
    "Pipfile.lock",
)

PIP, PIP_PROJECT, UV, POETRY, NONE = "pip", "pip-project", "uv", "poetry", "none"


@dataclass(frozen=True)
class PythonProject:
    """The app's Python files and the installer they call for."""

    root: Path
    installer: str  # PIP (requirements.txt), PIP_PROJECT (pip install .), UV, POETRY, NONE
    pyproject: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # said in the log: a file that is present but not used

    @property
    def lockfile(self) -> Path | None:
        name = {PIP: "requirements.txt", UV: "uv.lock", POETRY: "poetry.lock"}.get(self.installer)
        return self.root / name if name else None

    @property
    def requires_python(self) -> str:
        project = self.pyproject.get("project")
        value = project.get("requires-python") if isinstance(project, dict) else None
        if isinstance(value, str):
            return value
        # Poetry before 2 keeps it as a dependency named "python"
        tool = self.pyproject.get("tool")
        poetry = tool.get("poetry") if isinstance(tool, dict) else None
        deps = poetry.get("dependencies") if isinstance(poetry, dict) else None
        python = deps.get("python") if isinstance(deps, dict) else None
        return python if isinstance(python, str) else ""

    def has(self, name: str) -> bool:
        return (self.root / name).is_file()


def is_python_app(root: Path) -> bool:
    return any((root / name).is_file() for name in MARKERS)


def read_pyproject(path: Path) -> dict[str, Any]:
    return read_toml(path)  # a SpecError names the file and the line


def read_project(root: Path) -> PythonProject:
    """The app at ``root``: which installer its files call for (``uv.lock``, then
    ``poetry.lock``, then ``requirements.txt``, then a project to ``pip install .``)."""
    pyproject_path = root / "pyproject.toml"
    pyproject = read_pyproject(pyproject_path) if pyproject_path.is_file() else {}
    present = {name for name in MARKERS if (root / name).is_file()}
    if {"uv.lock", "poetry.lock"} <= present:
        raise BuildpackError(
            "the app has both uv.lock and poetry.lock: keep the one of the tool you use",
            file=str(root / "uv.lock"),
        )
    notes: list[str] = []
    if "uv.lock" in present or "poetry.lock" in present:
        lock = "uv.lock" if "uv.lock" in present else "poetry.lock"
        if not pyproject:
            raise BuildpackError(f"{lock} needs the pyproject.toml it was made from", file=lock)
        if "requirements.txt" in present:
            notes.append(f"requirements.txt is not used: {lock} decides what is installed")
        return PythonProject(root, UV if lock == "uv.lock" else POETRY, pyproject, tuple(notes))
    if "requirements.txt" in present:
        return PythonProject(root, PIP, pyproject)
    if pyproject or "setup.py" in present or "setup.cfg" in present:
        return PythonProject(root, PIP_PROJECT, pyproject)
    if present & {"Pipfile", "Pipfile.lock"}:
        name = "Pipfile.lock" if "Pipfile.lock" in present else "Pipfile"
        raise BuildpackError(
            "Pipenv apps are not supported: export the lock with `pipenv requirements >"
            " requirements.txt` (pip), or move to uv or Poetry",
            file=str(root / name),
        )
    return PythonProject(root, NONE, pyproject)
