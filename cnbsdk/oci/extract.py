"""Safe extraction of layer tars (plain or gzip) into a directory, applying whiteouts.

Rules (docs/images.md):

- Names are taken relative to the target: a leading ``/`` is dropped (layer names are
  absolute), ``.`` is ignored, and any ``..`` component is refused.
- Every parent directory is opened relative to its own parent with ``O_NOFOLLOW``: a path
  through a symlink (or a non-directory) is refused, so nothing can be written through a
  link, and nothing ever lands outside the target.
- Symlinks are created as they are, but a relative target that climbs above the root is
  refused; absolute targets are taken as relative to the root (the image's view).
- Hard links must point at an existing non-directory inside the target.
- Device nodes and fifos are refused unless ``allow_devices=True``.
- At most ``MAX_DEPTH`` (256) path components: deeper entries are refused; nothing recurses.
- ``.wh.<name>`` removes ``name`` from lower layers; ``.wh..wh..opq`` empties its directory
  of everything this layer did not itself add.
"""

from __future__ import annotations

import errno
import gzip
import os
import stat
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from cnbsdk.errors import ExtractionError, ImageError
from cnbsdk.oci.digest import Descriptor, HashingReader, verify

if TYPE_CHECKING:
    from cnbsdk.oci.transport import ImageSource

MAX_DEPTH = 256
WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class ExtractReport:
    """What an extraction did."""

    entries: int
    whiteouts: int


def _components(name: str, *, what: str = "entry") -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ExtractionError(f"{what} {name!r}: refusing a '..' path component")
    if len(parts) > MAX_DEPTH:
        raise ExtractionError(f"{what} {name[:80]!r}...: deeper than {MAX_DEPTH} path components")
    return parts


class _Root:
    """The target directory, with a cached descriptor of the last parent directory used."""

    def __init__(self, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(target, _DIR_FLAGS)
        self.cached: tuple[tuple[str, ...], int] | None = None

    def close(self) -> None:
        self.forget()
        os.close(self.fd)

    def forget(self) -> None:
        if self.cached is not None:
            os.close(self.cached[1])
            self.cached = None

    def parent(self, parts: Sequence[str], name: str, *, create: bool = True) -> int:
        """A descriptor of the directory ``parts`` (kept by the cache: do not close it)."""
        key = tuple(parts)
        if self.cached is not None and self.cached[0] == key:
            return self.cached[1]
        if self.cached is not None and key[: len(self.cached[0])] == self.cached[0]:
            start, fd = self.cached
            self.cached = None
            rest = key[len(start) :]
        else:
            self.forget()
            fd, rest = os.dup(self.fd), key
        fd = self.descend(fd, rest, name, create=create)
        self.cached = (key, fd)
        return fd

    def descend(self, fd: int, parts: Sequence[str], name: str, *, create: bool) -> int:
        """Open ``parts`` below ``fd`` (which this consumes) without following symlinks,
        creating missing directories when ``create``; return the new descriptor."""
        for part in parts:
            try:
                try:
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise ExtractionError(f"entry {name!r}: {part!r} does not exist") from None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise ExtractionError(
                        f"entry {name!r}: refusing to write through {part!r}, "
                        "which is a symlink or not a directory"
                    ) from None
                raise
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            fd = nxt
        return fd


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove_tree(parent_fd: int, name: str) -> None:
    """Remove a file or a whole directory below ``parent_fd``, iteratively, never following
    symlinks."""
    info = _lstat(name, parent_fd)
    if info is None:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    stack: list[tuple[int, int, str]] = []
    first = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    stack.append((first, parent_fd, name))
    try:
        while stack:
            fd, pfd, dname = stack[-1]
            os.chmod(fd, 0o700)
            descended = False
            with os.scandir(fd) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                        stack.append((child, fd, entry.name))
                        descended = True
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if not descended:
                stack.pop()
                os.close(fd)
                os.rmdir(dname, dir_fd=pfd)
    finally:
        for fd, _, _ in stack:
            os.close(fd)


def _symlink_escapes(parts: Sequence[str], target: str) -> bool:
    if target.startswith("/"):
        return False
    depth = len(parts) - 1  # the link's directory
    for piece in target.split("/"):
        if piece in ("", "."):
            continue
        depth = depth - 1 if piece == ".." else depth + 1
        if depth < 0:
            return True
    return False


class _Extractor:
    def __init__(
        self, root: _Root, *, allow_devices: bool, same_owner: bool, whiteouts: bool
    ) -> None:
        self.root = root
        self.allow_devices = allow_devices
        self.same_owner = same_owner
        self.whiteouts = whiteouts
        self.added: set[tuple[str, ...]] = set()
        self.late_modes: list[tuple[tuple[str, ...], int]] = []
        self.entries = 0
        self.whiteout_count = 0

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = member.name
        _check_header(member)
        parts = _components(name)
        if not parts:
            return
        base = parts[-1]
        if self.whiteouts and base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, name)
            return
        parent_fd = self.root.parent(parts[:-1], name)
        existing = _lstat(base, parent_fd)
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            if stat.S_ISDIR(existing.st_mode):
                _remove_tree(parent_fd, base)
            else:
                os.unlink(base, dir_fd=parent_fd)
        mode = member.mode & 0o7777
        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(base, 0o700, dir_fd=parent_fd)
            self._own(base, parent_fd, member)
            os.chmod(base, mode | 0o700, dir_fd=parent_fd)
            if mode & 0o700 != 0o700:
                self.late_modes.append((tuple(parts), mode))
        elif member.isreg():
            self._write_file(tar, member, base, parent_fd, mode)
        elif member.issym():
            if _symlink_escapes(parts, member.linkname):
                raise ExtractionError(
                    f"entry {name!r}: symlink target {member.linkname!r} leaves the root"
                )
            os.symlink(member.linkname, base, dir_fd=parent_fd)
            self._own(base, parent_fd, member)
        elif member.islnk():
            self._hard_link(member, parts, base, parent_fd)
        elif member.ischr() or member.isblk() or member.isfifo():
            if not self.allow_devices:
                kind = "fifo" if member.isfifo() else "device node"
                raise ExtractionError(f"entry {name!r}: refusing a {kind} (allow_devices is off)")
            kind_bits = (
                stat.S_IFIFO
                if member.isfifo()
                else (stat.S_IFCHR if member.ischr() else stat.S_IFBLK)
            )
            device = os.makedev(member.devmajor, member.devminor) if not member.isfifo() else 0
            os.mknod(base, kind_bits | mode, device, dir_fd=parent_fd)
            self._own(base, parent_fd, member)
        else:
            raise ExtractionError(f"entry {name!r}: unsupported tar entry type {member.type!r}")
        self.added.add(tuple(parts))
        self.entries += 1

    def _write_file(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, base: str, parent_fd: int, mode: int
    ) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(base, flags, 0o600, dir_fd=parent_fd)
        try:
            stream = tar.extractfile(member)
            if stream is not None:
                while chunk := stream.read(_CHUNK):
                    _write_all(fd, chunk)
            if self.same_owner:
                os.fchown(fd, member.uid, member.gid)
            os.fchmod(fd, mode)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def _hard_link(
        self, member: tarfile.TarInfo, parts: list[str], base: str, parent_fd: int
    ) -> None:
        name = member.name
        target = _components(member.linkname, what=f"hard link {name!r} to")
        if not target:
            raise ExtractionError(f"entry {name!r}: hard link to the root directory")
        target_fd = self.root.descend(os.dup(self.root.fd), target[:-1], name, create=False)
        try:
            info = _lstat(target[-1], target_fd)
            if info is None:
                raise ExtractionError(
                    f"entry {name!r}: hard link target {member.linkname!r} does not exist"
                )
            if stat.S_ISDIR(info.st_mode):
                raise ExtractionError(f"entry {name!r}: hard link to a directory")
            os.link(
                target[-1],
                base,
                src_dir_fd=target_fd,
                dst_dir_fd=parent_fd,
                follow_symlinks=False,
            )
        finally:
            os.close(target_fd)

    def _own(self, base: str, parent_fd: int, member: tarfile.TarInfo) -> None:
        if self.same_owner:
            os.chown(base, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)

    def _whiteout(self, parts: list[str], name: str) -> None:
        self.whiteout_count += 1
        directory = parts[:-1]
        base = parts[-1]
        parent_fd = self.root.parent(directory, name)
        if base == OPAQUE_WHITEOUT:
            with os.scandir(parent_fd) as it:
                children = [e.name for e in it]
            for child in children:
                if (*directory, child) not in self.added:
                    _remove_tree(parent_fd, child)
        else:
            hidden = base[len(WHITEOUT_PREFIX) :]
            if hidden in ("", ".", ".."):
                raise ExtractionError(f"entry {name!r}: invalid whiteout")
            _remove_tree(parent_fd, hidden)
        self.root.forget()  # a cached directory may have gone

    def finish(self) -> None:
        for parts, mode in sorted(self.late_modes, key=lambda item: -len(item[0])):
            parent_fd = self.root.parent(parts[:-1], "/".join(parts), create=False)
            os.chmod(parts[-1], mode, dir_fd=parent_fd)


# What the kernel can hold: ids are 32-bit (2^32-1 is "no id"), times are what utime()
# and datetime take (years 1 to 9999 would do; the bound is the 64-bit time_t's).
_MAX_ID = 2**32 - 2
_MAX_TIME = 2**62
_MAX_DEVICE = 2**31 - 1


def _check_header(member: tarfile.TarInfo) -> None:
    """Refuse an entry whose numbers cannot be applied, naming it (not OverflowError)."""
    name = member.name[:200]
    for field, value, low, high in (
        ("uid", member.uid, 0, _MAX_ID),
        ("gid", member.gid, 0, _MAX_ID),
        ("mtime", member.mtime, -_MAX_TIME, _MAX_TIME),
        ("size", member.size, 0, 2**63 - 1),
        ("devmajor", member.devmajor, 0, _MAX_DEVICE),
        ("devminor", member.devminor, 0, _MAX_DEVICE),
    ):
        if not isinstance(value, (int, float)) or not low <= value <= high:
            shown = str(value)[:40]
            raise ExtractionError(f"entry {name!r}: {field} {shown} is out of range")
    if "\0" in member.name or "\0" in member.linkname:
        raise ExtractionError(f"entry {name!r}: a NUL byte in its name or link target")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def extract_layer(
    layer: Path | BinaryIO,
    target: Path,
    *,
    allow_devices: bool = False,
    same_owner: bool | None = None,
    whiteouts: bool = True,
) -> ExtractReport:
    """Unpack a layer tar (plain, gzip, bzip2 or xz) into ``target`` safely.

    ``same_owner`` (default: when running as root) applies the entries' uid/gid.
    Raises ExtractionError naming the refused entry; nothing is written outside ``target``.
    """
    if same_owner is None:
        same_owner = os.geteuid() == 0
    root = _Root(Path(target))
    extractor = _Extractor(
        root, allow_devices=allow_devices, same_owner=same_owner, whiteouts=whiteouts
    )
    stream: BinaryIO | None = None
    try:
        if isinstance(layer, (str, os.PathLike)):
            try:
                stream = open(layer, "rb")  # noqa: SIM115
            except FileNotFoundError:
                raise ImageError("layer file not found", file=str(layer)) from None
        else:
            stream = layer
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    extractor.add(tar, member)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ExtractionError(f"not a valid layer tar: {error}") from None
        extractor.finish()
    finally:
        root.close()
        if stream is not None and stream is not layer:
            stream.close()
    return ExtractReport(extractor.entries, extractor.whiteout_count)


class _Rejoined:
    """A stream whose first bytes were already read (to sniff the compression)."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self.head = head
        self.rest = rest

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.rest.read(), b""
                return bytes(data)
            data, self.head = self.head[:n], self.head[n:]
            return bytes(data)
        return bytes(self.rest.read(n))


def extract_image_layer(
    source: ImageSource,
    descriptor: Descriptor,
    diff_id: str,
    target: Path,
    *,
    allow_devices: bool = False,
    same_owner: bool | None = None,
    whiteouts: bool = True,
) -> ExtractReport:
    """Stream one layer blob of an image into ``target``, checking the blob against its
    descriptor's digest and size and the uncompressed tar against the config's diffID.

    A mismatch raises ImageError naming the layer; the caller removes ``target``.
    """
    layer = descriptor.digest
    if descriptor.media_type.endswith("+zstd"):
        raise ImageError(f"layer {layer}: zstd layers are not supported")
    with source.open_blob(layer) as stream:
        blob = HashingReader(stream)
        head = blob.read(2)  # gzip's magic, whatever the media type says
        raw = _Rejoined(head, blob)
        raw_stream = cast(BinaryIO, raw)
        content_stream = (
            cast(BinaryIO, gzip.GzipFile(fileobj=raw_stream, mode="rb"))
            if head == b"\x1f\x8b"
            else raw_stream
        )
        content = HashingReader(content_stream)
        try:
            report = extract_layer(
                cast(BinaryIO, content),
                target,
                allow_devices=allow_devices,
                same_owner=same_owner,
                whiteouts=whiteouts,
            )
            while content.read(_CHUNK):  # tar padding after the end marker
                pass
            while blob.read(_CHUNK):  # and whatever follows the compressed stream
                pass
        except (ExtractionError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            # A corrupt blob usually fails to unpack first: say that it is corrupt.
            while blob.read(_CHUNK):
                pass
            verify(layer, descriptor.size, blob.digest, blob.size, what=f"layer {layer}")
            message = error.message if isinstance(error, ExtractionError) else str(error)
            raise ExtractionError(f"layer {layer}: {message}") from None
    verify(layer, descriptor.size, blob.digest, blob.size, what=f"layer {layer}")
    if content.digest != diff_id:
        raise ImageError(
            f"layer {layer}: its content {content.digest} does not match the config's "
            f"diffID {diff_id}"
        )
    return report
