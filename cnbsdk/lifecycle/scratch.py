"""The private temporary directory of one build, and the sweep of ones killed builds left.

A build copies the app, the buildpacks and every layer into ``$TMPDIR/cnbsdk-build-*``
and removes it when it ends, even on SIGINT/SIGTERM. A SIGKILL (or a crash of the machine)
cannot be caught and leaves the whole tree behind. So each build holds an exclusive
``flock`` on ``<dir>/.owner`` (which also records its pid, for humans) for its whole life,
and every build starts by taking that lock on the directories of earlier builds: a lock that
can be taken belongs to a process that is gone, and its directory is removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from cnbsdk.lifecycle.rootfs import remove_tree

PREFIX = "cnbsdk-build-"
OWNER_FILE = ".owner"
# A directory without its owner file is either being set up this instant or was killed in
# that instant; only the second kind is this old.
_SETUP_GRACE_SECONDS = 600.0


@contextlib.contextmanager
def build_scratch_dir() -> Iterator[Path]:
    """A private temporary directory for one build, locked while it runs and removed
    afterwards whatever buildpacks left in it; stale ones of killed builds go first."""
    parent = Path(tempfile.gettempdir())
    remove_stale_scratch_dirs(parent)
    path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    fd = os.open(path / OWNER_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new and private: cannot be held
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        try:
            remove_tree(path)
        finally:
            os.close(fd)


def remove_stale_scratch_dirs(parent: Path) -> list[Path]:
    """Remove ``parent/cnbsdk-build-*`` directories of this user whose build process is
    gone (their owner lock can be taken). Returns what was removed."""
    removed: list[Path] = []
    try:
        candidates = sorted(parent.glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for path in candidates:
        if _remove_if_stale(path):
            removed.append(path)
    return removed


def _remove_if_stale(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    # Only real directories of ours: $TMPDIR is shared, and a symlink must not be followed.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return False
    try:
        fd = os.open(path / OWNER_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if time.time() - info.st_mtime < _SETUP_GRACE_SECONDS:
            return False
        return _remove(path)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its build is running
        return _remove(path)
    finally:
        os.close(fd)


def _remove(path: Path) -> bool:
    try:
        remove_tree(path)
    except FileNotFoundError:  # another build swept it first
        return False
    except OSError:
        return False  # not ours to fight over: leave it for the next sweep
    return True
