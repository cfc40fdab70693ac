"""Unpacked images kept between uses, one tree per manifest digest, and pruned: app images for
``cnbsdk run`` and build images for the sandbox.

App images live under ``cache_root()/run-rootfs/<digest hex>/``, build images under
``cache_root()/rootfs/`` (both made by ``rootfs.unpacked_rootfs``; siblings, so pruning app
images never touches a build image). Every build makes a new app digest, so only the ``KEEP``
most recently run trees are kept; every stack update makes a new build image, so only the
``BUILD_KEEP`` most recently used build trees are (each ~400 MB). A run (a build: its
process) holds a shared lock on ``<digest hex>.in-use`` while it lives; pruning takes that
lock exclusively without waiting and skips a tree in use, and it renames a tree away before
deleting it, so no run ever sees a half-deleted tree under its final name.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.lifecycle.rootfs import UnpackedImage, remove_tree, unpacked_rootfs
from cnbsdk.oci.store import private_directory

KEEP = 5
BUILD_KEEP = 4
# build trees this process uses: held (shared lock) until it exits
_held: dict[Path, int] = {}
_TREE_NAME = re.compile(r"^[0-9a-f]{64}$")
_PRUNING = ".pruning-"
_STALE_PRUNING_SECONDS = 3600.0


def run_cache_dir() -> Path:
    """``cache_root()/run-rootfs`` (the cache made private first: app images unpack here)."""
    return private_directory(cache_root(), name="cnbsdk's cache") / "run-rootfs"


@contextmanager
def app_rootfs(ref: str, *, cache_dir: Path | None = None) -> Iterator[UnpackedImage]:
    """The image at ``ref`` unpacked (pulled and unpacked only when its digest is new),
    kept from pruning until the ``with`` block ends."""
    base = cache_dir if cache_dir is not None else run_cache_dir()
    while True:
        unpacked = unpacked_rootfs(ref, cache_dir=base)
        in_use = base / f"{unpacked.rootfs.name}.in-use"
        fd = os.open(in_use, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        if unpacked.rootfs.is_dir():
            break
        os.close(fd)  # pruned between the unpack and the lock: unpack it again
    try:
        os.utime(in_use)  # the last use, which pruning goes by
        prune(base, keep=KEEP)
        yield unpacked
    finally:
        os.close(fd)


def held_build_rootfs(ref: str) -> UnpackedImage:
    """The build image ``ref`` unpacked, kept from pruning while this process lives (a build,
    a test session, a service); then the build trees beyond the ``BUILD_KEEP`` most recently
    used that nothing holds are removed."""
    base = private_directory(cache_root(), name="cnbsdk's cache") / "rootfs"
    while True:
        unpacked = unpacked_rootfs(ref, cache_dir=base)
        in_use = base / f"{unpacked.rootfs.name}.in-use"
        if in_use in _held:
            break
        fd = os.open(in_use, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        if unpacked.rootfs.is_dir():
            _held[in_use] = fd
            break
        os.close(fd)  # pruned between the unpack and the lock: unpack it again
    os.utime(in_use)
    prune(base, keep=BUILD_KEEP)
    return unpacked


def prune(base: Path, *, keep: int) -> list[str]:
    """Remove all but the ``keep`` most recently used trees that no run is using; returns
    the digests (hex) removed."""
    trees = [path for path in base.iterdir() if _TREE_NAME.match(path.name) and path.is_dir()]
    trees.sort(key=lambda tree: _last_use(tree), reverse=True)
    removed = []
    for tree in trees[keep:]:
        if _remove_unused(tree):
            removed.append(tree.name)
    now = time.time()
    for leftover in base.glob(f"{_PRUNING}*"):
        # A prune killed while deleting; an hour is long past any live deletion.
        with suppress(OSError):
            if now - leftover.lstat().st_mtime > _STALE_PRUNING_SECONDS:
                remove_tree(leftover)
    return removed


def _last_use(tree: Path) -> float:
    for path in (tree.with_name(f"{tree.name}.in-use"), tree):
        with suppress(OSError):
            return path.stat().st_mtime
    return 0.0


def _remove_unused(tree: Path) -> bool:
    in_use = tree.with_name(f"{tree.name}.in-use")
    fd = os.open(in_use, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a run is using it
        doomed = tree.with_name(f"{_PRUNING}{tree.name}-{os.getpid()}")
        try:
            os.rename(tree, doomed)
        except FileNotFoundError:
            return False  # another prune got there first
        # a tree unpacked again under this name is compiled again
        tree.with_name(f"{tree.name}.compiled").unlink(missing_ok=True)
        os.utime(doomed)
        remove_tree(doomed)
        return True
    finally:
        os.close(fd)
