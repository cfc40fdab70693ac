"""The volume cache (``--cache-dir``): ``cache=true`` layer tars kept between builds.

The layout is the lifecycle's (cnb-spec-digest §4.7), so ``<dir>/committed/<diffID>.tar``
and ``<dir>/committed/io.buildpacks.lifecycle.cache.metadata`` read the same way here as
there. What is added, for crash safety and two builds at once::

    <dir>/lock                     flock'd by the build that has the cache open
    <dir>/committed -> generations/<gen>   a symlink, replaced by an atomic rename
    <dir>/generations/<gen>/       one complete, committed cache (tars + metadata)
    <dir>/staging/                 what the running build writes; renamed to a generation
    <dir>/trees/                   committed layers kept unpacked (``cache_trees``)

A commit renames ``staging`` to a new generation and then swaps the ``committed`` symlink
with ``rename(2)``, so at every instant (SIGKILL included) ``committed`` names a complete
generation: the old one or the new one. Opening the cache discards a ``staging`` dir left by
a killed build and generations nothing points at. A tar that is reused is hard-linked into
the new generation, never copied; each tar is verified (sha256, streamed) before it is used.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle.cache_trees import CacheTrees
from cnbsdk.oci.digest import file_sha256
from cnbsdk.oci.layer_tar import ParentDir, write_layer_from_dir
from cnbsdk.spec.labels import (
    CACHE_METADATA_LABEL,
    BuildpackLayersMetadata,
    CacheMetadata,
    LayerMetadata,
)

COMMITTED = "committed"
STAGING = "staging"
GENERATIONS = "generations"
LOCK_FILE = "lock"
METADATA_FILE = CACHE_METADATA_LABEL
_MIGRATED_PREFIX = "migrated-"
_LINK_PREFIX = ".committed-"
_DIFF_ID = re.compile(r"^sha256:[a-f0-9]{64}$")
_CHUNK = 1 << 20

Warn = Callable[[str], None]


def _stderr_warning(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def tar_name(diff_id: str) -> str:
    """The file name of a cached layer: ``sha256:<hex>.tar``, as the lifecycle names it."""
    if not isinstance(diff_id, str) or not _DIFF_ID.match(diff_id):
        raise BuildError(f"invalid layer diffID {diff_id!r}: expected sha256:<64 hex digits>")
    return f"{diff_id}.tar"


def _stamp(path: Path) -> tuple[int, int, int, int] | None:
    """What identifies a file's content for the process: device, inode, size, mtime."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    """Remove a file, symlink or whole tree if it is there."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


class _ProcessLocks:
    """The cache locks this process holds, counted, so that opening one cache twice in one
    process does not deadlock on its own ``flock`` (which is per open file description)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.held: dict[Path, list[int]] = {}  # lock file -> [fd, count]

    def acquire(self, path: Path, *, timeout: float, warn: Warn) -> bool:
        """Take the lock; True when this process did not hold it already."""
        with self.guard:
            if path in self.held:
                self.held[path][1] += 1
                return False
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                _flock_waiting(fd, path, timeout=timeout, warn=warn)
            except BaseException:
                os.close(fd)
                raise
            self.held[path] = [fd, 1]
            return True

    def release(self, path: Path) -> None:
        with self.guard:
            entry = self.held.get(path)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                del self.held[path]
                os.close(entry[0])  # closing drops the flock


def _flock_waiting(fd: int, path: Path, *, timeout: float, warn: Warn) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    warn(f"Waiting for the cache at {path.parent}: another build is using it")
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(0.1)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise BuildError(
                    f"another build has held the cache lock for over {timeout:.0f}s",
                    file=str(path),
                    hint="wait for it to finish or use another --cache-dir",
                ) from None


_LOCKS = _ProcessLocks()
_VERIFIED: dict[str, tuple[int, int, int, int]] = {}  # diffID -> stamp of a file that matched


class VolumeCache:
    """A cache directory, opened (locked and recovered) for one build.

    The cache is locked from construction until ``close()`` (or the end of a ``with``
    block, or the process): two builds never read and write one cache at the same time.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        warn: Warn | None = None,
        lock_timeout: float = 600.0,
    ) -> None:
        self.directory = Path(directory).absolute()
        self.warn = warn or _stderr_warning
        self._writer: CacheWriter | None = None
        if self.directory.exists() and not self.directory.is_dir():
            raise BuildError("the cache directory is not a directory", file=str(self.directory))
        try:
            (self.directory / GENERATIONS).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BuildError(
                f"cannot create the cache directory: {error.strerror}", file=str(self.directory)
            ) from None
        self._lock_path = self.directory / LOCK_FILE
        first = _LOCKS.acquire(self._lock_path, timeout=lock_timeout, warn=self.warn)
        self._open = True
        if first:  # not when this process already has the cache open (and may be writing)
            try:
                self._recover()
            except BaseException:
                self.close()
                raise

    # -- opening ------------------------------------------------------------------------
    def _recover(self) -> None:
        """Bring the directory to a committed state: discard a killed build's staging dir,
        adopt a lifecycle-style ``committed/`` directory, drop unreferenced generations."""
        _remove(self.directory / STAGING)
        for leftover in self.directory.glob(f"{_LINK_PREFIX}*"):
            _remove(leftover)
        committed = self.directory / COMMITTED
        generations = self.directory / GENERATIONS
        if committed.is_dir() and not committed.is_symlink():
            # A plain directory (the reference lifecycle's layout, or our first run on it):
            # move it into a generation, then point the symlink at it.
            target = generations / f"{_MIGRATED_PREFIX}{time.time_ns()}"
            os.rename(committed, target)
            self._point_committed_at(target.name)
        elif not committed.is_symlink():
            # Killed between the two steps above: adopt the migrated generation.
            migrated = sorted(generations.glob(f"{_MIGRATED_PREFIX}*"))
            if migrated:
                self._point_committed_at(migrated[-1].name)
        current = self._current_generation()
        for generation in generations.iterdir():
            if generation.name != current:
                _remove(generation)

    def _current_generation(self) -> str | None:
        committed = self.directory / COMMITTED
        try:
            target = os.readlink(committed)
        except OSError:
            return None
        name = Path(target).name
        if not (self.directory / GENERATIONS / name).is_dir():
            return None  # a dangling link reads as an empty cache
        return name

    def _point_committed_at(self, generation: str) -> None:
        """Swap the ``committed`` symlink to ``generations/<generation>`` atomically."""
        link = self.directory / f"{_LINK_PREFIX}{generation}"
        _remove(link)
        os.symlink(f"{GENERATIONS}/{generation}", link)
        os.rename(link, self.directory / COMMITTED)
        _fsync_dir(self.directory)

    def _check_open(self) -> None:
        if not self._open:
            raise BuildError("the cache is closed", file=str(self.directory))

    # -- reading --------------------------------------------------------------------------
    @property
    def committed_dir(self) -> Path | None:
        """The committed generation's directory, None when the cache is empty."""
        generation = self._current_generation()
        return self.directory / GENERATIONS / generation if generation else None

    def metadata(self) -> CacheMetadata:
        """What the cache holds; empty when there is nothing (a warning when unreadable)."""
        self._check_open()
        committed = self.committed_dir
        if committed is None:
            return CacheMetadata()
        path = committed / METADATA_FILE
        try:
            text = path.read_bytes()
        except FileNotFoundError:
            return CacheMetadata()
        except OSError as error:
            self.warn(f"Ignoring the cache metadata at {path}: {error.strerror}")
            return CacheMetadata()
        try:
            return CacheMetadata.from_json(text, label=str(path))
        except CnbError as error:
            self.warn(f"Ignoring unreadable cache metadata: {error}")
            return CacheMetadata()

    def diff_ids(self) -> set[str]:
        """The diffIDs of the tars in the committed generation (not verified)."""
        committed = self.committed_dir
        if committed is None:
            return set()
        return {p.name[: -len(".tar")] for p in committed.iterdir() if _DIFF_ID.match(p.stem or "")}

    def layer_tar(
        self,
        diff_id: str,
        *,
        name: str | None = None,
        warn: Warn | None = None,
        verify: bool = True,
    ) -> Path | None:
        """The committed tar of ``diff_id`` once its sha256 is checked; None (and a warning
        naming ``name``, e.g. ``<bp>:<layer>``) when it is missing or corrupted. A caller
        that streams the tar anyway passes ``verify=False``, hashes it on the way and
        reports the result with ``record_verified``, so the file is read once."""
        self._check_open()
        warn = warn or self.warn
        what = name or diff_id
        file_name = tar_name(diff_id)
        committed = self.committed_dir
        path = committed / file_name if committed else None
        if path is None or not path.is_file():
            warn(f"Skipping cache layer {what}: its tar is not in the cache")
            return None
        if verify and not self._verify(path, diff_id):
            warn(f"Skipping corrupted cache layer {what} (sha mismatch)")
            return None
        return path

    def record_verified(self, path: Path, diff_id: str) -> None:
        """Remember that ``path`` hashed to ``diff_id`` (a reader streamed and hashed it), so
        reusing it in the next generation does not hash it again."""
        stamp = _stamp(path)
        if stamp is not None:
            _VERIFIED[diff_id] = stamp

    def _verify(self, path: Path, diff_id: str) -> bool:
        """True when the file hashes to ``diff_id``. Remembered per file (device, inode, size,
        mtime) for the process, so restore and export, and the hard link of a tar in the next
        generation, hash it once."""
        stamp = _stamp(path)
        if stamp is None:
            return False
        if _VERIFIED.get(diff_id) == stamp:
            return True
        try:
            ok = file_sha256(path) == diff_id
        except OSError:
            return False
        if ok:
            _VERIFIED[diff_id] = stamp
        return ok

    # -- writing --------------------------------------------------------------------------
    def begin(self) -> CacheWriter:
        """Start writing the next generation in ``staging/`` (emptied first)."""
        self._check_open()
        if self._writer is not None and not self._writer.finished:
            raise BuildError("a cache write is already in progress", file=str(self.directory))
        staging = self.directory / STAGING
        _remove(staging)
        staging.mkdir()
        self._writer = CacheWriter(self, staging)
        return self._writer

    def clear(self) -> None:
        """Empty the cache (``--clear-cache``): unlink ``committed`` first, so a kill
        in the middle leaves an empty cache rather than a half-deleted one."""
        self._check_open()
        (self.directory / COMMITTED).unlink(missing_ok=True)
        _fsync_dir(self.directory)
        _remove(self.directory / STAGING)
        for generation in (self.directory / GENERATIONS).iterdir():
            _remove(generation)
        self.trees.clear()

    @property
    def trees(self) -> CacheTrees:
        """The committed layers kept unpacked beside their tars (``cache_trees``)."""
        return CacheTrees(self.directory)

    def close(self) -> None:
        """Abort an unfinished write and release the lock."""
        if not self._open:
            return
        if self._writer is not None and not self._writer.finished:
            self._writer.abort()
        self._open = False
        _LOCKS.release(self._lock_path)

    def __enter__(self) -> VolumeCache:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- used by CacheWriter -------------------------------------------------------------
    def _commit_staging(self, staging: Path) -> None:
        generation = f"g{time.time_ns()}-{os.getpid()}"
        _fsync_dir(staging)
        os.rename(staging, self.directory / GENERATIONS / generation)
        _fsync_dir(self.directory / GENERATIONS)
        previous = self._current_generation()
        self._point_committed_at(generation)
        if previous and previous != generation:
            _remove(self.directory / GENERATIONS / previous)


class CacheWriter:
    """The next generation of a cache, written in ``staging/``; ``commit`` makes it the
    committed one, ``abort`` (or a kill) leaves the committed one as it was."""

    def __init__(self, cache: VolumeCache, staging: Path) -> None:
        self.cache = cache
        self.staging = staging
        self.finished = False

    def _check(self) -> None:
        if self.finished:
            raise BuildError("the cache write is already committed or aborted")

    def has(self, diff_id: str) -> bool:
        """True when ``diff_id`` is already staged."""
        return (self.staging / tar_name(diff_id)).is_file()

    def add_layer(
        self,
        layer_dir: Path,
        *,
        prefix: str,
        uid: int,
        gid: int,
        parents: Sequence[ParentDir] = (),
        known_diff_id: str | None = None,
    ) -> str:
        """Tar ``layer_dir`` as ``prefix`` (``/layers/<bp>/<layer>``) straight into staging,
        uncompressed; return its diffID. With ``known_diff_id`` already committed (and
        verified), the committed tar is hard-linked instead and nothing is tarred."""
        self._check()
        if known_diff_id and self.reuse(known_diff_id, quiet=True):
            return known_diff_id
        layer = write_layer_from_dir(
            layer_dir,
            self.staging,
            prefix=prefix,
            uid=uid,
            gid=gid,
            parents=parents,
            compress=False,
        )
        final = self.staging / tar_name(layer.diff_id)
        if final.exists():
            layer.path.unlink()
        else:
            os.rename(layer.path, final)
            self.cache.record_verified(final, layer.diff_id)  # hashed as it was written
        return layer.diff_id

    def add_tar(self, tar: Path, diff_id: str, *, verify: bool = False) -> None:
        """Stage an uncompressed layer tar written elsewhere (e.g. by the exporter, which
        hashed it while writing it): hard-linked when on the same filesystem, else copied.
        Its sha256 is checked when copied or when ``verify`` is set; a linked one counts as
        verified, for this process, by the hashing that wrote it (``record_verified``)."""
        self._check()
        final = self.staging / tar_name(diff_id)
        if final.exists():
            return
        try:
            linked = True
            os.link(tar, final)
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            linked = False
            tmp = self.staging / f".{final.name}.tmp"
            shutil.copyfile(tar, tmp)
            os.rename(tmp, final)
        if (verify or not linked) and file_sha256(final) != diff_id:
            final.unlink()
            raise BuildError(f"layer tar does not match its diffID {diff_id}", file=str(tar))
        self.cache.record_verified(final, diff_id)

    def reuse(self, diff_id: str, *, name: str | None = None, quiet: bool = False) -> bool:
        """Hard-link the committed tar of ``diff_id`` into staging (never copied or
        re-tarred). False (with a warning unless ``quiet``) when it is missing or corrupted:
        the caller then adds the layer again."""
        self._check()
        final = self.staging / tar_name(diff_id)
        if final.exists():
            return True
        quiet_warn: Warn = lambda line: None  # noqa: E731
        source = self.cache.layer_tar(diff_id, name=name, warn=quiet_warn if quiet else None)
        if source is None:
            return False
        os.link(source, final)
        return True

    def commit(self, metadata: CacheMetadata) -> CacheMetadata:
        """Write the metadata and make staging the committed cache, atomically.

        Layers (and the SBOM) whose tar was not staged are dropped from the metadata with a
        warning, so a committed cache never lists a tar it lacks. Returns what was written.
        """
        self._check()
        metadata = self._only_staged(metadata)
        wanted = {tar_name(sha) for sha in _shas(metadata)}
        for path in self.staging.iterdir():
            if path.name not in wanted:
                _remove(path)  # added but not recorded, or temp files of a failed tar
        path = self.staging / METADATA_FILE
        with open(path, "w", encoding="utf-8") as out:
            out.write(metadata.to_json())
            out.flush()
            os.fsync(out.fileno())
        self.cache._commit_staging(self.staging)
        self.finished = True
        return metadata

    def abort(self) -> None:
        """Throw the staged generation away; the committed cache stays as it was."""
        if self.finished:
            return
        _remove(self.staging)
        self.finished = True

    def _only_staged(self, metadata: CacheMetadata) -> CacheMetadata:
        buildpacks = []
        for entry in metadata.buildpacks:
            layers: dict[str, LayerMetadata] = {}
            for name, layer in entry.layers.items():
                if layer.sha and self.has(layer.sha):
                    layers[name] = layer
                else:
                    self.cache.warn(f"Not caching {entry.key}:{name}: its layer tar was not added")
            buildpacks.append(
                BuildpackLayersMetadata(entry.key, entry.version, layers, entry.store)
            )
        sbom = metadata.sbom
        if sbom and not self.has(sbom):
            self.cache.warn("Not caching the SBOM layer: its tar was not added")
            sbom = None
        return CacheMetadata(sbom=sbom, buildpacks=tuple(buildpacks))

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.abort()


def _shas(metadata: CacheMetadata) -> set[str]:
    shas = {layer.sha for entry in metadata.buildpacks for layer in entry.layers.values()}
    if metadata.sbom:
        shas.add(metadata.sbom)
    return shas
