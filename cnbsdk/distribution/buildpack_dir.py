"""Package a buildpack as a directory the lifecycle can run (``--format dir``).

The layout (docs/commands.md, ``cnbsdk package buildpack``)::

    DIR/buildpack.toml
    DIR/bin/detect   python3 scripts, identical: both call cnbsdk.buildpack.runtime.main
    DIR/bin/build    with the plugin's import ref and dispatch on argv[0]
    DIR/lib/         the vendored runtime and the plugin's own package

The CLI and the pytest harness both call :func:`package_buildpack_dir`, so "works in
tests" means "works when packaged".
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack.plugin import BuildpackPlugin
from cnbsdk.distribution.buildpack_source import BuildpackSource, resolve_source
from cnbsdk.distribution.staging import staged_dir
from cnbsdk.distribution.vendor import (
    RUNTIME_PACKAGES,
    check_imports,
    copy_tree,
    vendor_cnbsdk_runtime,
    vendor_package,
)
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

MIN_PYTHON = (3, 10)

# Written as bin/detect and bin/build. Kept to syntax every python3 parses, so an old
# interpreter reaches the version check and prints one line instead of a SyntaxError.
ENTRY_SCRIPT = '''#!/usr/bin/env python3
"""{id} {version}: entry point written by `cnbsdk package buildpack`; do not edit."""
import os
import sys

if sys.version_info < {min_python!r}:
    sys.stderr.write(
        "error: {id} needs python3 >= {min_text}, found %d.%d\\n" % sys.version_info[:2]
    )
    sys.exit(1)

sys.dont_write_bytecode = True  # the buildpack directory is read-only on a builder
_lib = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib")
# cnbsdk's lifecycle may give lib/'s bytecode, compiled ahead, in a directory of its own
# (lib/a/__pycache__/b.*.pyc at DIR/a/__pycache__/b.*.pyc); nothing else sees the variable.
_bytecode = os.environ.pop("CNBSDK_BYTECODE_CACHE", "")
if _bytecode:
    from importlib import machinery as _machinery

    class _Loader(_machinery.SourceFileLoader):
        def get_data(self, path):
            if path.endswith(".pyc") and path.startswith(_lib + os.sep):
                path = os.path.join(_bytecode, os.path.relpath(path, _lib))
            return super().get_data(path)

    def _finder(path):
        if path != _lib and not path.startswith(_lib + os.sep):
            raise ImportError(path)
        return _machinery.FileFinder(path, (_Loader, _machinery.SOURCE_SUFFIXES))

    sys.path_hooks.insert(0, _finder)  # before lib/ is on the path and its finder is made
sys.path.insert(0, _lib)

from cnbsdk.buildpack.runtime import main  # noqa: E402

sys.exit(main({ref!r}))
'''


@dataclass(frozen=True)
class PackagedBuildpack:
    """What was written: where, which buildpack, and what ``lib/`` holds."""

    path: Path
    descriptor: BuildpackDescriptor
    plugin_ref: str | None
    vendored: tuple[str, ...]

    @property
    def id(self) -> str:
        return str(self.descriptor.buildpack.id)

    @property
    def version(self) -> str:
        return str(self.descriptor.buildpack.version)


def package_buildpack_dir(
    source: str | os.PathLike[str] | BuildpackPlugin,
    output: str | os.PathLike[str],
    *,
    force: bool = False,
    vendor: Sequence[str] = (),
    verify: bool = True,
) -> PackagedBuildpack:
    """Package SRC (plugin id, loaded plugin, plugin package dir, project dir or plain dir)
    into ``output``.

    ``vendor`` names extra pure-Python top-level packages the plugin imports. With
    ``verify`` the result is checked by importing the plugin with only ``lib/`` (and the
    standard library) on the path, so a missing dependency fails here and not in a build.
    Nothing is left at ``output`` when this raises.
    """
    resolved = resolve_source(source)
    output = Path(output)
    with staged_dir(output, force=force) as stage:
        if resolved.is_plugin:
            vendored = _write_plugin_layout(resolved, stage, vendor)
            if verify:
                _verify_imports(stage, resolved, vendored)
        else:
            _write_plain_layout(resolved, stage)
            vendored = ()
    return PackagedBuildpack(
        path=Path(os.path.abspath(output)),
        descriptor=resolved.descriptor,
        plugin_ref=resolved.plugin_ref,
        vendored=vendored,
    )


def entry_script(source: BuildpackSource) -> str:
    """The text of bin/detect and bin/build for a plugin buildpack."""
    info = source.descriptor.buildpack
    return ENTRY_SCRIPT.format(
        id=info.id,
        version=info.version,
        ref=source.plugin_ref,
        min_python=MIN_PYTHON,
        min_text=".".join(str(n) for n in MIN_PYTHON),
    )


def _write_plugin_layout(
    source: BuildpackSource, stage: Path, extra: Sequence[str]
) -> tuple[str, ...]:
    assert source.package_root is not None
    shutil.copyfile(source.descriptor_path, stage / "buildpack.toml")
    bin_dir = stage / "bin"
    bin_dir.mkdir()
    script = entry_script(source)
    for phase in ("detect", "build"):
        (bin_dir / phase).write_text(script, encoding="utf-8")
        (bin_dir / phase).chmod(0o755)
    lib = stage / "lib"
    lib.mkdir()
    vendor_cnbsdk_runtime(lib)
    for name in (*RUNTIME_PACKAGES, *extra):
        vendor_package(name, lib)
    copy_tree(source.package_root, lib / source.package_root.name)
    _make_readable(stage)
    return vendored_names(source, extra)


def vendored_names(source: BuildpackSource, extra: Sequence[str]) -> tuple[str, ...]:
    """The top-level names a plugin's ``lib/`` holds: the runtime, ``extra``, the plugin."""
    assert source.package_root is not None
    package = source.package_root.name.removesuffix(".py")
    return ("cnbsdk", *RUNTIME_PACKAGES, *extra, package)


def _write_plain_layout(source: BuildpackSource, stage: Path) -> None:
    assert source.plain_root is not None
    shutil.copytree(
        source.plain_root,
        stage,
        symlinks=True,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )


def _make_readable(root: Path) -> None:
    """The lifecycle runs buildpacks as the build user: everything must be world-readable."""
    for directory, _dirs, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = Path(directory, name)
            mode = path.stat().st_mode & 0o777
            path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))


def _verify_imports(stage: Path, source: BuildpackSource, vendored: Sequence[str]) -> None:
    """Import the runtime, every vendored package and the plugin with ``-I -S``: only the
    stdlib and ``lib/``, so a missing (transitive) dependency fails here, not in a build."""
    module = str(source.plugin_ref).partition(":")[0]
    packages = [name for name in vendored if name != "cnbsdk"]
    check_imports(
        stage / "lib",
        ["cnbsdk.buildpack.runtime", *packages, module],
        file=str(source.descriptor_path.parent),
    )
