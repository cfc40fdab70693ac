"""Cache keys from files: a stable digest of named files, globs or a source tree.

``files_digest(app, ["package.json", "package-lock.json"])`` changes exactly when one of
those files is added, removed or edited (its bytes or its executable bit), whatever their
modification times; put it in a layer's ``expected`` metadata. Patterns are relative to
``root`` and may use ``*``, ``?`` and ``**``; ``exclude`` patterns leave paths (and whole
directories) out, e.g. ``node_modules`` or ``.git``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

_CHUNK = 1 << 20


def _excluded(relative: str, exclude: Sequence[str]) -> bool:
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatchcase(p, pattern) for p in prefixes for pattern in exclude)


def _matches(root: Path, pattern: str, exclude: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for path in root.glob(pattern):
        if path.is_dir() and not path.is_symlink():
            for directory, dirs, files in os.walk(path):
                base = Path(directory)
                dirs[:] = [d for d in dirs if not _excluded(_rel(root, base / d), exclude)]
                found.update(_rel(root, base / name) for name in files)
        else:
            found.add(_rel(root, path))
    return {name for name in found if not _excluded(name, exclude)}


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def files_digest(root: Path, patterns: Sequence[str], *, exclude: Sequence[str] = ()) -> str:
    """``sha256:<hex>`` over the paths, executable bits and contents of the matching files
    (a symlink counts by its target text); the same files give the same key anywhere."""
    root = Path(root)
    names: set[str] = set()
    for pattern in patterns:
        names |= _matches(root, pattern, exclude)
    digest = hashlib.sha256()
    for pattern in patterns:  # what was asked for is part of the key
        digest.update(b"pattern\0" + pattern.encode() + b"\0")
    for name in sorted(names):
        path = root / name
        info = path.lstat()
        digest.update(b"file\0" + name.encode("utf-8", "surrogateescape") + b"\0")
        if stat.S_ISLNK(info.st_mode):
            digest.update(b"link\0" + os.readlink(path).encode("utf-8", "surrogateescape"))
            continue
        digest.update(b"x" if info.st_mode & 0o111 else b"-")
        content = hashlib.sha256()
        with open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                content.update(chunk)
        digest.update(content.digest())
    return "sha256:" + digest.hexdigest()
