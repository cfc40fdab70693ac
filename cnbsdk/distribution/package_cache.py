"""Plugin buildpacks packaged once per content, for the lifecycle (``cnbsdk build``, the
``cnb_build`` harness): packaging vendors the runtime and imports it in a fresh interpreter
to verify it (~0.2 s), which every build of a plugin buildpack used to pay.

A packaged tree is kept under ``cache_root()/packaged-buildpacks/<key>``, where the key is a
digest of everything packaging reads: the plugin's package and buildpack.toml, the entry
script, the vendored runtime's files and the Python that verified it. A changed plugin or
runtime is a new key, so a stale package is never served. Trees are written beside their
final place and renamed into it, so parallel builds (``pytest -n``) never see half a tree;
two that fill the same key at once both succeed and one tree stays. Builds copy the tree
out: nothing a build does reaches the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.distribution.buildpack_dir import (
    PackagedBuildpack,
    entry_script,
    package_buildpack_dir,
    vendored_names,
)
from cnbsdk.distribution.buildpack_source import BuildpackSource, resolve_source
from cnbsdk.distribution.vendor import runtime_sources
from cnbsdk.oci.digest import tree_digest

# Bump when what packaging writes changes in a way the inputs below do not show.
CACHE_FORMAT = "1"
# A file changed less than this long ago may change again within the same mtime tick.
RACY_SECONDS = 2.0


@dataclass(frozen=True)
class CachedPackage:
    """A plugin buildpack packaged at ``packaged.path``, and the key of its content."""

    packaged: PackagedBuildpack
    key: str


def packaged_plugin(
    source: str, into: Path, *, cache_dir: Path | None = None
) -> CachedPackage | None:
    """Package the plugin buildpack ``source`` names into ``into`` (which must not exist),
    from the cache when it holds this content. None when ``source`` is not a plugin (a plain
    directory is placed as it is)."""
    resolved = resolve_source(source)
    if not resolved.is_plugin:
        return None
    base = cache_dir if cache_dir is not None else cache_root() / "packaged-buildpacks"
    key = package_key(resolved)
    cached = base / key
    if not cached.is_dir():
        _fill(source, base, key)
    shutil.copytree(cached, into, symlinks=True)
    packaged = PackagedBuildpack(
        path=Path(os.path.abspath(into)),
        descriptor=resolved.descriptor,
        plugin_ref=resolved.plugin_ref,
        vendored=vendored_names(resolved, ()),
    )
    return CachedPackage(packaged, key)


def package_key(source: BuildpackSource) -> str:
    """A digest of every input of ``package_buildpack_dir`` for this plugin."""
    assert source.package_root is not None
    digest = hashlib.sha256()
    parts = [
        f"format {CACHE_FORMAT}",
        f"python {sys.version_info[0]}.{sys.version_info[1]}",
        entry_script(source),
        stable_digest(source.descriptor_path),
        stable_digest(source.package_root),
        *(f"{path.name} {stable_digest(path)}" for path in runtime_sources()),
    ]
    for part in parts:
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _fill(source: str, base: Path, key: str) -> None:
    base.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", suffix=".partial", dir=base))
    try:
        package_buildpack_dir(source, stage / "buildpack")
        try:
            os.rename(stage / "buildpack", base / key)
        except OSError:
            if not (base / key).is_dir():  # not another build filling it at the same time
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# -- digests of source trees, remembered while they do not change ------------------------

_remembered: dict[Path, tuple[tuple[object, ...], str]] = {}


def stable_digest(path: Path) -> str:
    """``tree_digest(path)``, remembered for this process while no file's size, mtime,
    ctime or inode changes. A file changed within ``RACY_SECONDS`` of now is hashed
    every time (git's "racy clean" rule: a second change in the same mtime tick would
    leave the same stat)."""
    path = Path(path).absolute()
    signature, newest = _signature(path)
    known = _remembered.get(path)
    if known is not None and known[0] == signature:
        return known[1]
    digest = tree_digest(path)
    if newest < time.time() - RACY_SECONDS:
        _remembered[path] = (signature, digest)
    return digest


def _signature(root: Path) -> tuple[tuple[object, ...], float]:
    entries: list[object] = []
    newest = 0.0
    paths = [root]
    if root.is_dir() and not root.is_symlink():
        for directory, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            paths += [Path(directory, name) for name in sorted([*dirs, *files])]
    for path in paths:
        if path.name.endswith(".pyc"):
            continue
        info = path.lstat()
        entries.append(
            (str(path), info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        )
        if not stat.S_ISDIR(info.st_mode):
            newest = max(newest, info.st_mtime, info.st_ctime)
    return tuple(entries), newest
