"""Copy pure-Python packages into a packaged buildpack's ``lib/`` directory.

A packaged buildpack must run with nothing but ``python3`` in the build image, so the
runtime it imports (the author API of cnbsdk, pluggy, tomli_w, tomli) and the author's own
package are copied next to it. Packages are found through importlib, exactly where the
running interpreter imports them from.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from cnbsdk.errors import PackageError

# The parts of cnbsdk a buildpack imports at run time; cli, oci, lifecycle... stay out.
CNBSDK_RUNTIME_PARTS = ("__init__.py", "errors.py", "spec", "buildpack", "deps")
# Third-party packages the runtime imports (tomli: Python 3.10 has no tomllib).
RUNTIME_PACKAGES = ("pluggy", "tomli_w", "tomli")

_SKIPPED_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")


def locate(import_name: str) -> Path:
    """The directory of a top-level package (or the file of a single module)."""
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise PackageError(
            f"cannot vendor {import_name!r}: it is not installed",
            hint=f"install it where cnbsdk runs, e.g. pip install {import_name}",
        )
    if spec.submodule_search_locations:
        locations = list(spec.submodule_search_locations)
        if len(locations) != 1:
            raise PackageError(f"cannot vendor {import_name!r}: it is a namespace package")
        return Path(locations[0])
    if spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin)
    raise PackageError(f"cannot vendor {import_name!r}: it is not a pure-Python package")


def _ignore(directory: str, names: list[str]) -> set[str]:
    ignored = {n for n in names if n in _SKIPPED_NAMES or n.endswith(_SKIPPED_SUFFIXES)}
    for name in names:
        if not name.endswith(_COMPILED_SUFFIXES):
            continue
        # mypyc-compiled wheels (tomli...) ship the .py source beside each extension: the
        # source is what runs on any python3, so the extension is left out.
        if f"{name.split('.')[0]}.py" in names:
            ignored.add(name)
            continue
        raise PackageError(
            "is a compiled extension and has no .py source: a packaged buildpack carries "
            "pure Python only",
            file=str(Path(directory) / name),
        )
    return ignored


def copy_tree(source: Path, destination: Path) -> None:
    """Copy a package directory or module file, leaving out caches and bytecode."""
    if source.is_dir():
        shutil.copytree(source, destination, ignore=_ignore, dirs_exist_ok=True)
    else:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


def vendor_package(import_name: str, lib: Path) -> Path:
    """Copy an installed top-level package and its licence/metadata into ``lib``."""
    source = locate(import_name)
    target = lib / source.name
    copy_tree(source, target)
    _copy_metadata(import_name, lib)
    return target


def runtime_sources() -> tuple[Path, ...]:
    """Where the vendored runtime is copied from (the cnbsdk parts, then the third-party
    packages): when any of them changes, every packaged plugin buildpack changes."""
    cnbsdk_root = locate("cnbsdk")
    parts = tuple(cnbsdk_root / part for part in CNBSDK_RUNTIME_PARTS)
    return parts + tuple(locate(name) for name in RUNTIME_PACKAGES)


def vendor_cnbsdk_runtime(lib: Path) -> Path:
    """Copy the parts of cnbsdk a buildpack needs at run time (see CNBSDK_RUNTIME_PARTS)."""
    source = locate("cnbsdk")
    target = lib / "cnbsdk"
    target.mkdir(parents=True, exist_ok=True)
    for part in CNBSDK_RUNTIME_PARTS:
        if (source / part).exists():
            copy_tree(source / part, target / part)
    return target


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    """Which distributions provide each top-level name (~60 ms: read once per process)."""
    return importlib.metadata.packages_distributions()


def _copy_metadata(import_name: str, lib: Path) -> None:
    """Keep the distribution's METADATA and licence files (MIT/Apache notices travel along)."""
    names = _packages_distributions().get(import_name, [])
    for name in names[:1]:
        dist = importlib.metadata.distribution(name)
        version = dist.version
        info = lib / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        for file in dist.files or ():
            parts = Path(str(file)).parts
            if not parts or not parts[0].endswith(".dist-info"):
                continue
            base = Path(*parts[1:])
            if str(base) == "METADATA" or "licen" in str(base).lower():
                source = Path(str(dist.locate_file(file)))
                if source.is_file():
                    (info / base).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, info / base)


# Runs with ``python -I -S``: the standard library and ``lib/`` only, as in a build image.
# Each module is imported on its own, so every vendored package reports what it lacks.
_IMPORT_CHECK = """
import importlib, json, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
failures = []
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        failures.append([name, error.name or "", str(error)])
    except Exception as error:
        failures.append([name, "", f"{type(error).__name__}: {error}"])
print(json.dumps(failures))
"""


def check_imports(lib: Path, modules: Sequence[str], *, file: str) -> None:
    """Import every module in ``modules`` (the runtime, the vendored packages, the plugin)
    in one isolated interpreter with only ``lib`` on its path; a module that cannot be
    imported fails packaging with one line naming what is missing and the ``--vendor``
    that adds it (``--vendor requests`` without ``urllib3``: ``--vendor urllib3``)."""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_CHECK, str(lib), json.dumps(list(modules))],
        capture_output=True,
        text=True,
        cwd=lib,
    )
    try:
        failures = json.loads(completed.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        lines = completed.stderr.strip().splitlines() or ["(no output)"]
        raise PackageError(
            f"the packaged buildpack cannot import its code from lib/: {lines[-1]}", file=file
        ) from None
    if not failures:
        return
    missing = sorted({top for _, name, _ in failures if (top := name.partition(".")[0])})
    if missing:
        module, _, message = next(failure for failure in failures if failure[1])
        raise PackageError(
            f"the packaged buildpack cannot import {module!r} from lib/: {message}",
            file=file,
            hint="add it with " + " ".join(f"--vendor {name}" for name in missing),
        )
    module, _, message = failures[0]
    raise PackageError(
        f"the packaged buildpack cannot import {module!r} from lib/: {message}",
        file=file,
        hint="add pure-Python dependencies with --vendor NAME",
    )
