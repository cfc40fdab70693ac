"""Copy pure-Python packages into a packaged buildpack's ``lib/`` directory.

A packaged buildpack must run with nothing but ``python3`` in the build image, so the
runtime it imports (the author API of cnbsdk, pluggy, tomli_w, tomli) and the author's own
package are copied next to it. Packages are found through importlib, exactly where the
running interpreter imports them from.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
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


def vendor_cnbsdk_runtime(lib: Path) -> Path:
    """Copy the parts of cnbsdk a buildpack needs at run time (see CNBSDK_RUNTIME_PARTS)."""
    source = locate("cnbsdk")
    target = lib / "cnbsdk"
    target.mkdir(parents=True, exist_ok=True)
    for part in CNBSDK_RUNTIME_PARTS:
        if (source / part).exists():
            copy_tree(source / part, target / part)
    return target


def _copy_metadata(import_name: str, lib: Path) -> None:
    """Keep the distribution's METADATA and licence files (MIT/Apache notices travel along)."""
    names = importlib.metadata.packages_distributions().get(import_name, [])
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
