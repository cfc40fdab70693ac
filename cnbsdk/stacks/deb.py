"""Unpacking a .deb without dpkg: its control record and its files, filtered and usr-merged.

A .deb is an ``ar`` archive of ``debian-binary``, ``control.tar.*`` and ``data.tar.*``.
No maintainer script runs; what those scripts would generate that an image needs
(users, the CA bundle) is written by ``rootfs``.
"""

from __future__ import annotations

import fnmatch
import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cnbsdk.errors import StackError
from cnbsdk.stacks.definition import PathFilter

# Debian bookworm is merged-/usr: these top-level directories are symlinks into /usr, so
# files packages still ship below them are unpacked into /usr (what usrmerge does).
MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class ArMember:
    name: str
    offset: int
    size: int


def _ar_members(stream: BinaryIO, file: str) -> Iterator[ArMember]:
    if stream.read(8) != b"!<arch>\n":
        raise StackError("not a Debian package (no ar header)", file=file)
    while True:
        header = stream.read(60)
        if len(header) < 60:
            return
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        offset = stream.tell()
        yield ArMember(name, offset, size)
        stream.seek(offset + size + (size & 1))


def _member_stream(path: Path, prefix: str) -> tuple[str, bytes]:
    with path.open("rb") as stream:
        for member in _ar_members(stream, str(path)):
            if member.name.startswith(prefix):
                stream.seek(member.offset)
                return member.name, stream.read(member.size)
    raise StackError(f"no {prefix}* member", file=str(path))


def _open_tar(name: str, data: bytes, file: str) -> tarfile.TarFile:
    if name.endswith(".zst"):
        try:
            data = subprocess.run(
                ["zstd", "-dc"], input=data, capture_output=True, check=True
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            raise StackError("cannot decompress a zstd member (install zstd)", file=file) from None
    try:
        return tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    except tarfile.TarError as error:
        raise StackError(f"unreadable {name}: {error}", file=file) from None


def control_record(path: Path) -> str:
    """The package's ``control`` file text (its dpkg status record, without Status)."""
    name, data = _member_stream(path, "control.tar")
    with _open_tar(name, data, str(path)) as archive:
        for member in archive:
            if member.name.lstrip("./") == "control" and member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                return extracted.read().decode("utf-8", "replace")
    raise StackError("no control file", file=str(path))


def member_files(path: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """The regular files of a .deb's data whose path (relative, as packaged: no
    usr-merge) ``wanted`` accepts, by path."""
    name, data = _member_stream(path, "data.tar")
    found: dict[str, bytes] = {}
    with _open_tar(name, data, str(path)) as archive:
        for member in archive:
            relative = "/".join(p for p in PurePosixPath(member.name).parts if p not in ("", "."))
            if member.isfile() and wanted(relative):
                extracted = archive.extractfile(member)
                if extracted is not None:
                    found[relative] = extracted.read()
    return found


def normalise(name: str) -> str | None:
    """A tar member name as a relative path in the merged-/usr image, or None for the root."""
    parts = [part for part in PurePosixPath(name).parts if part not in ("", ".")]
    if not parts:
        return None
    if ".." in parts or name.startswith("/"):
        raise ValueError(name)
    if parts[0] in MERGED_DIRS:
        parts = ["usr", *parts]
    return "/".join(parts)


def excluded(path: str, rules: PathFilter) -> bool:
    """dpkg's path-exclude/path-include: excluded when an exclude glob matches and no
    include glob does."""
    absolute = "/" + path
    if not any(fnmatch.fnmatchcase(absolute, pattern) for pattern in rules.exclude):
        return False
    return not any(fnmatch.fnmatchcase(absolute, pattern) for pattern in rules.include)


def unpack(path: Path, dest: Path, rules: PathFilter) -> list[str]:
    """Unpack the files of one .deb into ``dest``; return the kept paths (relative).

    Directories are created with the package's modes; a directory excluded by the filter
    is kept only when something kept lies below it.
    """
    name, data = _member_stream(path, "data.tar")
    kept: list[str] = []
    dir_modes: dict[str, int] = {}
    with _open_tar(name, data, str(path)) as archive:
        for member in archive:
            try:
                relative = normalise(member.name)
            except ValueError:
                raise StackError(f"unsafe path {member.name!r}", file=str(path)) from None
            if relative is None:
                continue
            if member.isdir():
                dir_modes[relative] = stat.S_IMODE(member.mode)
                if not excluded(relative, rules):
                    _make_dirs(dest, relative, dir_modes)
                continue
            if excluded(relative, rules):
                continue
            parent = str(PurePosixPath(relative).parent)
            if parent != ".":
                _make_dirs(dest, parent, dir_modes)
            target = dest / relative
            if target.is_symlink() or target.exists():
                target.unlink()
            if member.issym():
                os.symlink(member.linkname, target)
            elif member.islnk():
                link = normalise(member.linkname)
                source = dest / link if link else None
                if source is None or not source.exists():
                    raise StackError(f"hard link to a missing {member.linkname!r}", file=str(path))
                os.link(source, target)
            elif member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                with target.open("wb") as out:
                    shutil.copyfileobj(extracted, out)
                os.chmod(target, stat.S_IMODE(member.mode))
            else:
                continue  # no devices or fifos in Debian packages
            kept.append(relative)
    return kept


def _make_dirs(dest: Path, relative: str, modes: dict[str, int]) -> None:
    current = PurePosixPath()
    for part in PurePosixPath(relative).parts:
        current = current / part
        target = dest / current
        if target.is_dir() and not target.is_symlink():
            continue
        target.mkdir()
        os.chmod(target, modes.get(str(current), 0o755))
