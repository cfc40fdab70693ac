"""The app's packages: a virtual environment in the ``venv`` launch layer, filled by pip,
uv or Poetry (each from the catalog, in a build-only layer of its own).

- ``venv`` (launch, cached): reused while the dependency files (``requirements*.txt``,
  ``pyproject.toml``, ``uv.lock``, ``poetry.lock``...), the interpreter and the installer
  are the same — then no installer runs at all. Anything else rebuilds it from scratch.
- ``pip-cache``/``uv-cache``/``poetry-cache`` (cache only): the installer's download cache,
  so a changed lockfile downloads only what changed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import LayerEnv, Scope
from cnbsdk.buildpack.cache_keys import files_digest
from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.buildpack.tools import run_tool
from cnbsdk_python.project import PIP, PIP_PROJECT, POETRY, UV, PythonProject

VENV_FORMAT = 1  # bump when the layout of the venv layer changes

# What decides the venv's content, per installer (relative to the app).
DEPENDENCY_FILES = {
    PIP: ["requirements*.txt", "requirements/**", "constraints*.txt", "pyproject.toml"],
    UV: ["pyproject.toml", "uv.lock", "uv.toml", ".python-version"],
    POETRY: ["pyproject.toml", "poetry.lock", "poetry.toml"],
}
_SOURCE_EXCLUDE = [".git", "**/__pycache__", "**/node_modules", ".venv", "venv", "**/*.pyc"]


@dataclass(frozen=True)
class Interpreter:
    """The CPython the venv is made from."""

    python: Path  # <cpython layer>/bin/python3.X
    version: str
    checksum: str


@dataclass(frozen=True)
class Installer:
    """A tool from the catalog, installed in its layer."""

    name: str  # pip, uv, poetry
    version: str
    layer: LayerRef


def venv_key(
    project: PythonProject, interpreter: Interpreter, installer: Installer
) -> dict[str, Any]:
    if project.installer == PIP_PROJECT:  # `pip install .`: the project is the package
        inputs = files_digest(project.root, ["."], exclude=_SOURCE_EXCLUDE)
    else:
        patterns = DEPENDENCY_FILES[project.installer]
        if project.installer == PIP:
            patterns = [*patterns, *local_requirement_dirs(project.root)]
        inputs = files_digest(project.root, patterns, exclude=_SOURCE_EXCLUDE)
    return {
        "format": VENV_FORMAT,
        "dependencies": inputs,
        "python": interpreter.version,
        "python-checksum": interpreter.checksum,
        "installer": f"{installer.name} {installer.version}",
    }


def base_env(environ: Mapping[str, str], index_env: Mapping[str, str]) -> dict[str, str]:
    """The env every installer runs with: the build env without the platform's CNB_*
    variables, caches and indexes set by us, no prompts, no version checks."""
    env = {k: v for k, v in environ.items() if not k.startswith("CNB_")}
    env.update(
        {
            "PYTHONDONTWRITEBYTECODE": "1",  # bytecode is compiled afterwards, reproducibly
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
            "SOURCE_DATE_EPOCH": environ.get("SOURCE_DATE_EPOCH", "315532801"),
        }
    )
    env.update(index_env)
    return env


def create_venv(interpreter: Interpreter, venv: Path, logger: Any) -> Path:
    """A virtual environment without pip (the installers come from their own layers)."""
    run_tool([interpreter.python, "-m", "venv", "--without-pip", venv], logger=logger, quiet=True)
    return venv / "bin" / "python"


def pip_install(
    project: PythonProject,
    python: Path,
    pip: Installer,
    cache: LayerRef,
    env: Mapping[str, str],
    secrets: Sequence[str],
    logger: Any,
) -> None:
    """``pip install -r requirements.txt`` (or ``pip install .``) into the venv, with pip
    imported from its layer.

    pip's own cache keeps downloads only when the index sends caching headers (many
    mirrors do not), so requirements files go through a wheelhouse in the cache layer:
    ``pip download`` fetches the files it lacks, then pip installs from it with no index.
    When something must be built from source (an sdist, a local path, a VCS URL), the
    install keeps the index, which the build's own requirements come from."""
    run_env = {**env, "PYTHONPATH": str(pip.layer.path), "PIP_CACHE_DIR": str(cache.path)}
    base: list[str | Path] = [python, "-m", "pip"]
    options = ["--no-compile", "--no-warn-script-location"]

    def pip_run(*args: str | Path) -> str:
        run = run_tool(
            [*base, *args], logger=logger, cwd=project.root, env=run_env, secrets=secrets
        )
        return run.output

    if project.installer == PIP_PROJECT:
        pip_run("install", *options, ".")
        return
    if builds_from_source(project.root / "requirements.txt"):
        pip_run("install", *options, "-r", "requirements.txt")
        return
    wheelhouse = cache.path / "wheelhouse"
    wheelhouse.mkdir(exist_ok=True)
    output = pip_run(
        "download", "--progress-bar", "off", "-d", wheelhouse, "-r", "requirements.txt"
    )
    used = set(_DOWNLOADED.findall(output))
    for stale in wheelhouse.iterdir():  # the wheelhouse holds what this install needs
        if stale.name not in used:
            remove(stale)
    if used and all(name.endswith(".whl") for name in used):
        pip_run(
            "install", *options, "--no-index", "--find-links", wheelhouse, "-r", "requirements.txt"
        )
    else:
        pip_run("install", *options, "-r", "requirements.txt")


_DOWNLOADED = re.compile(r"(?:Saved|File was already downloaded) \S*?([^/\s]+)$", re.M)


def _requirement_lines(requirements: Path) -> list[str]:
    try:
        text = requirements.read_text(errors="replace")
    except OSError:
        return []
    return [line.split(" #", 1)[0].strip() for line in text.splitlines()]


def builds_from_source(requirements: Path) -> bool:
    """Whether a requirements file names local paths, URLs or editable installs (or other
    files, which might)."""
    for text in _requirement_lines(requirements):
        if text.startswith(("-e", "--editable", ".", "/", "file:", "-r", "-c")):
            return True
        if "://" in text:
            return True
    return False


def local_requirement_dirs(root: Path) -> list[str]:
    """The app's own directories that requirements.txt installs (``./lib``, ``-e ./pkg``):
    their files are part of what the venv is made from."""
    found = []
    for text in _requirement_lines(root / "requirements.txt"):
        path = text.removeprefix("--editable").removeprefix("-e").strip()
        if path.startswith("."):
            normal = os.path.normpath(path)
            if not normal.startswith("..") and (root / normal).is_dir():
                found.append(normal)
    return sorted(set(found))


def uv_install(
    project: PythonProject,
    venv: Path,
    uv: Installer,
    cache: LayerRef,
    env: Mapping[str, str],
    secrets: Sequence[str],
    logger: Any,
) -> None:
    """``uv sync --locked --no-dev`` into the venv: fails when uv.lock is out of date."""
    run_env = {
        **env,
        "UV_CACHE_DIR": str(cache.path),
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": str(venv / "bin" / "python"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PYTHON_PREFERENCE": "only-system",
        "UV_LINK_MODE": "copy",
        "UV_NO_PROGRESS": "1",
        "UV_COMPILE_BYTECODE": "0",
    }
    scratch = Path(tempfile.mkdtemp(prefix="cnbsdk-uv-", dir=cache.path.parent))
    run_env["TMPDIR"] = str(scratch)  # uv's lock files: inside the layers directory
    try:
        run_tool(
            [uv_binary(uv.layer), "sync", "--locked", "--no-dev"],
            logger=logger,
            cwd=project.root,
            env=run_env,
            secrets=secrets,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def poetry_install(
    project: PythonProject,
    venv: Path,
    poetry: Installer,
    cache: LayerRef,
    env: Mapping[str, str],
    secrets: Sequence[str],
    logger: Any,
) -> None:
    """``poetry install --only main --no-root`` into the (activated) venv: fails when
    poetry.lock is out of date with pyproject.toml."""
    run_env = {
        **env,
        "VIRTUAL_ENV": str(venv),
        "PATH": os.pathsep.join([str(venv / "bin"), env.get("PATH", "/usr/bin:/bin")]),
        "POETRY_CACHE_DIR": str(cache.path),
        "POETRY_VIRTUALENVS_CREATE": "false",
        "POETRY_NO_INTERACTION": "1",
        "POETRY_INSTALLER_NO_BINARY": env.get("POETRY_INSTALLER_NO_BINARY", ""),
        "POETRY_INSTALLER_RE_RESOLVE": "false",
        "POETRY_KEYRING_ENABLED": "false",
    }
    run_env = {k: v for k, v in run_env.items() if v != ""}
    run_tool(
        [poetry.layer.path / "bin" / "poetry", "install", "--only", "main", "--no-root"],
        logger=logger,
        cwd=project.root,
        env=run_env,
        secrets=secrets,
    )


def uv_binary(layer: LayerRef) -> Path:
    """The ``uv`` executable of an unpacked uv wheel (``uv-X.data/scripts/uv``)."""
    found = sorted(layer.path.glob("*.data/scripts/uv"))
    if not found:
        from cnbsdk.buildpack import BuildpackError

        raise BuildpackError(f"the uv layer {layer.path} holds no uv-*.data/scripts/uv")
    found[0].chmod(0o755)
    return found[0]


def activate(venv: LayerRef) -> None:
    """The venv first on PATH (its ``bin/``: automatic), VIRTUAL_ENV set, at build and
    launch."""
    env = LayerEnv()
    env.override("VIRTUAL_ENV", str(venv.path), Scope.ALL)
    venv.write_env(env)


def site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else None


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
