"""Host-side reads of files a buildpack wrote (env files, tomls, SBOMs) or an unpacked image
holds (``/etc/passwd``, a builder's ``/cnb/*.toml``): never through a link.

A buildpack runs sandboxed, but cnbsdk reads what it left on the host. A symlink there
(``<layer>/env.build/NAME -> /etc/shadow``, or a linked ``env.build`` directory) would make
cnbsdk read a host file the sandbox denied and hand it on. So every such read walks from the
buildpack's own directory with ``O_NOFOLLOW`` on each component: a link anywhere on the way,
or anything but a regular file at the end, is refused with one line naming the file.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TypeVar

from cnbsdk.errors import BuildError
from cnbsdk.spec.toml_io import TomlFileModel

M = TypeVar("M", bound=TomlFileModel)

# No env file, toml or SBOM a buildpack writes comes near this.
MAX_FILE_BYTES = 64 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a fifo must not hang; it is refused as not a regular file.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def read_bytes(path: Path, *, root: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The content of ``path``, a regular file below ``root`` reached through no symlink."""
    path, root = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        raise BuildError(f"is outside {root}", file=str(path)) from None
    if not parts or ".." in parts:
        raise BuildError(f"is not a file below {root}", file=str(path))
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        raise BuildError(f"cannot read: {error.strerror}", file=str(path)) from None
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            opened = _step(fd, part, _FILE_FLAGS if last else _DIR_FLAGS, path)
            os.close(fd)
            fd = opened
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BuildError("is not a regular file; refusing to read it", file=str(path))
        if info.st_size > limit:
            raise BuildError(f"is larger than {limit} bytes; refusing to read it", file=str(path))
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:
                raise BuildError(f"is larger than {limit} bytes", file=str(path))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _step(fd: int, name: str, flags: int, path: Path) -> int:
    """Open ``name`` below the directory ``fd``, refusing a link."""
    try:
        return os.open(name, flags, dir_fd=fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR) or (
            error.errno == errno.ENXIO and flags == _FILE_FLAGS
        ):
            link = " (or a directory on its way)" if flags == _FILE_FLAGS else ""
            raise BuildError(
                f"{name!r} is a symlink or not a plain file{link}: cnbsdk reads no link a "
                "buildpack made on the host",
                file=str(path),
            ) from None
        raise BuildError(f"cannot read {name!r}: {error.strerror}", file=str(path)) from None


def read_text(path: Path, *, root: Path) -> str:
    """As ``read_bytes``, decoded as UTF-8 (a bad byte is refused, naming the file)."""
    try:
        return read_bytes(path, root=root).decode("utf-8")
    except UnicodeDecodeError:
        raise BuildError("not UTF-8 text", file=str(path)) from None


def read_model(model: type[M], path: Path, *, root: Path) -> M:
    """A spec model (``LaunchToml``, ``StoreToml``, a layer's toml...) read as ``read_text``."""
    return model.from_toml(read_text(path, root=root), file=str(path))
