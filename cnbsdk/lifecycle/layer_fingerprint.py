"""Knowing a layer directory's diffID without tarring it again.

Tarring and hashing a 200 MB layer costs seconds; a ``stat`` walk of the same tree costs
milliseconds. Whoever has just tarred a directory, or just extracted a known tar into one,
records a fingerprint of the tree (every entry's path, kind, mode, size, mtime, ctime,
inode, link count and link target, plus the layer's image prefix, owner and parent dirs)
next to the diffID. Export looks the fingerprint up: equal fingerprint, same diffID, so an
unchanged layer is reused without reading a byte of it. Anything unsure gives no answer and
the caller tars (the index is an optimisation, never a source of truth).

The ctime cannot be set by a program, so a file rewritten with its old mtime still changes
the fingerprint. A write in the same clock tick as the recording would not, so ``remember``
waits until the filesystem clock has moved past every ctime it recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from cnbsdk.oci.layer_tar import ParentDir

INDEX_FILE = "layer-fingerprints.json"
_VERSION = 1


def fingerprint(
    layer_dir: Path, *, prefix: str, uid: int, gid: int, parents: Sequence[ParentDir] = ()
) -> tuple[str, int] | None:
    """A digest of the tree's metadata and the newest ctime seen (ns), or None when the
    tree cannot be read."""
    digest = hashlib.sha256()
    head = [prefix, uid, gid, [[p.path, p.mode, p.uid, p.gid] for p in parents]]
    digest.update(json.dumps(head).encode())
    newest = 0
    try:
        stack = [os.fsencode(layer_dir)]  # bytes paths: no decoding, names sort as bytes
        while stack:
            directory = stack.pop()
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
            info = os.lstat(directory)
            newest = max(newest, info.st_ctime_ns)
            digest.update(_line(directory, info, b""))
            for entry in entries:
                info = entry.stat(follow_symlinks=False)
                newest = max(newest, info.st_ctime_ns)
                link = os.readlink(entry.path) if entry.is_symlink() else b""
                digest.update(_line(entry.path, info, link))
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
    except OSError:
        return None
    return digest.hexdigest(), newest


def _line(path: bytes, info: os.stat_result, link: bytes) -> bytes:
    fields = (
        info.st_mode,
        info.st_size if not stat.S_ISDIR(info.st_mode) else 0,
        info.st_mtime_ns,
        info.st_ctime_ns,
        info.st_ino,
        info.st_dev,
        info.st_nlink if not stat.S_ISDIR(info.st_mode) else 0,
    )
    return path + b"\0" + link + b"\0" + ",".join(map(str, fields)).encode() + b"\n"


def clock_after(directory: Path, newest_ns: int) -> bool:
    """Wait (a few ms at most) until a file created in ``directory`` (on the layer's
    filesystem, outside the layer) gets a ctime later than ``newest_ns``; False if the
    clock does not get there."""
    probe = directory / f".fingerprint-probe-{os.getpid()}"
    for _ in range(50):
        try:
            probe.touch()
            now = os.lstat(probe).st_ctime_ns
        except OSError:
            return False
        finally:
            probe.unlink(missing_ok=True)
        if now > newest_ns:
            return True
        time.sleep(0.005)
    return False


class FingerprintIndex:
    """Fingerprint → diffID records for the layer dirs of one workspace, kept in a JSON file
    outside the layers dir (buildpacks never see it)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._records: dict[str, dict[str, str]] = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return {}
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return {}
        records = data.get("layers")
        return records if isinstance(records, dict) else {}

    def lookup(
        self,
        layer_dir: Path,
        *,
        prefix: str,
        uid: int,
        gid: int,
        parents: Sequence[ParentDir] = (),
        key: str | None = None,
    ) -> str | None:
        """The diffID recorded for this tree (under ``key``, by default its image path
        ``prefix``), or None when unknown or changed since."""
        record = self._records.get(key or prefix)
        if not record:
            return None
        current = fingerprint(layer_dir, prefix=prefix, uid=uid, gid=gid, parents=parents)
        if current is None or current[0] != record.get("fingerprint"):
            return None
        return record.get("diff_id") or None

    def remember(
        self,
        layer_dir: Path,
        diff_id: str,
        *,
        prefix: str,
        uid: int,
        gid: int,
        parents: Sequence[ParentDir] = (),
        before: tuple[str, int] | None = None,
        key: str | None = None,
    ) -> bool:
        """Record (under ``key``, by default the image path ``prefix``) that the tree now has
        ``diff_id``. ``before`` is a fingerprint taken before the tar was written: if the
        tree changed while it was being tarred nothing is recorded. Returns whether a record
        was written."""
        key = key or prefix
        current = fingerprint(layer_dir, prefix=prefix, uid=uid, gid=gid, parents=parents)
        if current is None or (before is not None and before[0] != current[0]):
            self._records.pop(key, None)
            return False
        if not clock_after(Path(layer_dir).parent, current[1]):
            self._records.pop(key, None)
            return False
        self._records[key] = {"fingerprint": current[0], "diff_id": diff_id}
        return True

    def recorded(self, prefix: str) -> str | None:
        """The diffID last recorded for ``prefix``, without checking the tree (for the
        lifecycle itself, right after export recorded it and before anything else runs)."""
        record = self._records.get(prefix)
        return (record.get("diff_id") or None) if record else None

    def forget(self, key: str) -> None:
        self._records.pop(key, None)

    def names(self) -> list[str]:
        """The keys of the records."""
        return list(self._records)

    def save(self) -> None:
        """Write the index atomically (a reader sees the old one or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        data = {"version": _VERSION, "layers": self._records}
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)


def tar_matches_head(
    tar: Path, *, prefix: str, uid: int, gid: int, parents: Sequence[ParentDir] = ()
) -> bool:
    """True when re-tarring the tree ``tar`` was extracted into would start the same way:
    the parent dirs with these modes and owners, then ``prefix`` owned by ``uid:gid``.
    (Reads only the first headers.) Contents extracted from a reproducible tar tar again
    to the same bytes, so this is what decides whether an extracted layer may be
    remembered under the tar's diffID."""
    wanted = [(p.path, p.mode & 0o7777, p.uid, p.gid) for p in parents]
    try:
        with tarfile.open(tar) as stream:
            head = []
            for member in stream:
                head.append(member)
                if len(head) > len(wanted):
                    break
    except (OSError, tarfile.TarError):
        return False
    if len(head) != len(wanted) + 1:
        return False
    seen = [(m.name, m.mode, m.uid, m.gid) for m in head[:-1]]
    root = head[-1]
    return seen == wanted and (root.name, root.uid, root.gid) == (prefix, uid, gid)


def remember_extracted(
    index: FingerprintIndex,
    layer_dir: Path,
    tar: Path,
    diff_id: str,
    *,
    prefix: str,
    uid: int,
    gid: int,
    parents: Sequence[ParentDir] = (),
) -> bool:
    """After extracting ``tar`` (of ``diff_id``) into ``layer_dir``: record the fingerprint
    so export reuses the layer without tarring it, when the tar's parent dirs and owner
    match what export would write. Returns whether it was recorded."""
    if not tar_matches_head(tar, prefix=prefix, uid=uid, gid=gid, parents=parents):
        return False
    return index.remember(layer_dir, diff_id, prefix=prefix, uid=uid, gid=gid, parents=parents)


def layer_parents(*image_paths: str, uid: int, gid: int) -> list[ParentDir]:
    """The parent directories written before a layer's own entries (``/layers``,
    ``/layers/<bp>``): 0755 and owned by the CNB user, as they are in the lifecycle's
    container. Fixed rather than read from the host, so an image's digest does not
    depend on the umask or the user that ran the build, and restore and export agree."""
    return [ParentDir(path, 0o755, uid, gid) for path in image_paths]


def workspace_index(root: Path) -> FingerprintIndex:
    """The index of a workspace: ``<workspace root>/layer-fingerprints.json``."""
    return FingerprintIndex(Path(root) / INDEX_FILE)
