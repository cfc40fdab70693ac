"""Cached layers kept unpacked beside the volume cache, so that a rebuild restores them with
a rename instead of extracting their tars.

Extracting a cached Node.js layer (a runtime and its modules, thousands of files) costs
seconds; moving a directory costs microseconds. So once a build has committed its cache,
each ``cache=true`` layer whose tree the workspace's fingerprint index knows to be exactly
its committed tar is moved to ``<cache>/trees/<hex>`` instead of being deleted with the
workspace. It is first made to look as extraction would make it (every file's mtime the
tar's, modes normalised), and its fingerprint, taken with the layer's image path, owner
and parent dirs, is recorded in a ``layer_fingerprint`` index beside the trees. Restore
takes a tree back only when that fingerprint still matches with this build's paths and
owner; otherwise, or when the tree is missing, it extracts the tar as before and the tree
is removed. Trees the committed
cache no longer lists are removed after every commit, so at most one unpacked copy of each
cached layer is kept. The tar stays the source of truth; a tree is only a shortcut to it.

A tree moves only within one filesystem: when the cache and the build's scratch dir are on
different ones, nothing is parked (``rename`` fails with EXDEV) and restore extracts.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path

from cnbsdk.lifecycle.layer_fingerprint import FingerprintIndex, layer_parents
from cnbsdk.lifecycle.rootfs import remove_tree
from cnbsdk.oci.layer_tar import NORMALIZED_MTIME, ParentDir, normalize_mode
from cnbsdk.spec.ids import BuildpackId
from cnbsdk.spec.labels import CacheMetadata

TREES = "trees"
INDEX = "index.json"


class CacheTrees:
    """The unpacked trees of one cache directory (used while the cache is locked), and the
    fingerprint index that vouches for them (``<cache>/trees/index.json``, one record per
    tree, named by its diffID's hex)."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = Path(cache_dir) / TREES

    def _tree(self, diff_id: str) -> Path:
        return self.root / diff_id.removeprefix("sha256:")

    def take(
        self,
        diff_id: str,
        target: Path,
        *,
        prefix: str,
        uid: int,
        gid: int,
        parents: Sequence[ParentDir],
    ) -> bool:
        """Move the tree of ``diff_id`` to ``target`` (which must not exist) when it is
        there, unchanged since it was parked, and was parked with this image path, owner
        and parents. False (and the tree removed) otherwise."""
        tree = self._tree(diff_id)
        if not tree.is_dir():
            return False
        index = FingerprintIndex(self.root / INDEX)
        known = index.lookup(tree, prefix=prefix, uid=uid, gid=gid, parents=parents, key=tree.name)
        index.forget(tree.name)
        index.save()
        if known != diff_id:  # changed since it was kept, or kept for another path or owner
            _remove(tree)
            return False
        try:
            os.rename(tree, target)
        except OSError:
            _remove(tree)
            return False
        return True

    def park(
        self,
        layer_dir: Path,
        diff_id: str,
        *,
        prefix: str,
        uid: int,
        gid: int,
        parents: Sequence[ParentDir],
    ) -> bool:
        """Move ``layer_dir`` (known to tar to ``diff_id``) in as the tree of ``diff_id``.
        False when it cannot be moved here (another filesystem, already parked)."""
        tree = self._tree(diff_id)
        if tree.exists():
            return False
        self.root.mkdir(exist_ok=True)
        try:
            os.rename(layer_dir, tree)
        except OSError:
            return False
        _as_extracted(tree)
        index = FingerprintIndex(self.root / INDEX)
        kept = index.remember(
            tree, diff_id, prefix=prefix, uid=uid, gid=gid, parents=parents, key=tree.name
        )
        index.save()
        if not kept:
            _remove(tree)
        return kept

    def prune(self, keep: Iterable[str]) -> None:
        """Remove every tree (and its record) whose diffID is not in ``keep``."""
        if not self.root.is_dir():
            return
        wanted = {d.removeprefix("sha256:") for d in keep}
        index = FingerprintIndex(self.root / INDEX)
        for name in index.names():
            if name not in wanted:
                index.forget(name)
        index.save()
        for entry in self.root.iterdir():
            if entry.name != INDEX and entry.name not in wanted:
                _remove(entry)

    def clear(self) -> None:
        _remove(self.root)


def _as_extracted(tree: Path) -> None:
    """Give the tree what extracting its tar would: every regular file's mtime the tar's
    normalised one, and every mode normalised (symlinks and directory times as they are)."""
    for directory, dirs, files in os.walk(tree):
        for name in (*dirs, *files):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                continue
            mode = stat.S_IMODE(info.st_mode)
            wanted = normalize_mode(mode, is_dir=stat.S_ISDIR(info.st_mode))
            if mode != wanted:
                os.chmod(path, wanted)
            if stat.S_ISREG(info.st_mode) and info.st_mtime_ns != NORMALIZED_MTIME * 10**9:
                os.utime(path, (NORMALIZED_MTIME, NORMALIZED_MTIME))
    info = os.lstat(tree)
    wanted = normalize_mode(stat.S_IMODE(info.st_mode), is_dir=True)
    if stat.S_IMODE(info.st_mode) != wanted:
        os.chmod(tree, wanted)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        path.unlink(missing_ok=True)


def image_paths(escaped: str, name: str, *, uid: int, gid: int) -> tuple[str, list[ParentDir]]:
    """A layer's image path and the parent dirs export writes before it."""
    bp_path = f"/layers/{escaped}"
    return f"{bp_path}/{name}", layer_parents("/layers", bp_path, uid=uid, gid=gid)


def park_cache_layers(
    trees: CacheTrees,
    layers_dir: Path,
    committed: CacheMetadata,
    index: FingerprintIndex,
    *,
    uid: int,
    gid: int,
) -> list[str]:
    """After a commit: park every committed layer whose directory export recorded in the
    workspace index as tarring to its committed diffID (export has just read those trees,
    and no buildpack runs after it); then drop the trees of layers no longer cached.
    Returns the parked layers as ``<bp>:<layer>``."""
    parked: list[str] = []
    for buildpack in committed.buildpacks:
        escaped = BuildpackId(buildpack.key).escaped
        for name, layer in buildpack.layers.items():
            if not layer.sha:
                continue
            layer_dir = layers_dir / escaped / name
            prefix, parents = image_paths(escaped, name, uid=uid, gid=gid)
            if index.recorded(prefix) != layer.sha:
                continue
            if trees.park(layer_dir, layer.sha, prefix=prefix, uid=uid, gid=gid, parents=parents):
                parked.append(f"{buildpack.key}:{name}")
    trees.prune(
        layer.sha for buildpack in committed.buildpacks for layer in buildpack.layers.values()
    )
    return parked
