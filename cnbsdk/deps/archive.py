"""Unpacking a dependency archive into a layer, safely and with ``strip-components``.

Only the standard library (this room is vendored into buildpacks). Refused: absolute names
that would leave the target after stripping, any ``..`` component, writing through a
symlink that leads outside the target, symlinks or hard links pointing outside it, and
device nodes. A Debian package (``.deb``) installs its data archive as dpkg would below
``/``, with the layer as the root: its absolute symlinks point into the layer. Archives that
are not tar, zip or Debian files are copied as they are.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

from cnbsdk.deps.download import copy_file
from cnbsdk.errors import DependencyError

_CHUNK = 1 << 20


def install_artifact(artifact: Path, target: Path, *, strip_components: int = 0) -> None:
    """Extract a tar (any compression) or zip archive into ``target``; copy anything else
    to ``target/<file name>``."""
    target.mkdir(parents=True, exist_ok=True)
    if is_deb(artifact):
        with tempfile.TemporaryDirectory(prefix="cnbsdk-deb-") as work:
            data = _deb_data(artifact, Path(work))
            _extract_tar(data, target, strip_components, rooted=True, source=artifact)
    elif tarfile.is_tarfile(artifact):
        _extract_tar(artifact, target, strip_components)
    elif zipfile.is_zipfile(artifact):
        _extract_zip(artifact, target, strip_components)
    else:
        copy_file(artifact, target / artifact.name)


def _relative(name: str, strip: int, archive: Path) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DependencyError(
            f"refusing entry {name!r}: it has a '..' component", file=str(archive)
        )
    parts = parts[strip:]
    return "/".join(parts) if parts else None


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def _checked_path(root: Path, relative: str, name: str, archive: Path) -> Path:
    path = root / relative
    if not _inside(root, path.parent):
        raise DependencyError(
            f"refusing entry {name!r}: it would be written through a link outside the layer",
            file=str(archive),
        )
    return path


def is_deb(path: Path) -> bool:
    """Whether ``path`` is a Debian binary package (an ``ar`` archive with ``debian-binary``)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(8 + 16)
    except OSError:
        return False
    return head[:8] == b"!<arch>\n" and head[8:].rstrip(b" ").rstrip(b"/") == b"debian-binary"


def _deb_data(artifact: Path, work: Path) -> Path:
    """The data archive of a ``.deb`` (``data.tar.xz``/``.gz``/``.bz2``/plain), copied out."""
    try:
        with open(artifact, "rb") as stream:
            stream.seek(8)
            while header := stream.read(60):
                if len(header) < 60:
                    break
                name = header[:16].decode("ascii", "replace").strip().rstrip("/")
                size = int(header[48:58].decode("ascii").strip() or 0)
                if name.startswith("data.tar"):
                    if name.endswith(".zst"):
                        raise DependencyError(
                            "zstd-compressed .deb data is not supported (Debian's own "
                            "packages use xz)",
                            file=str(artifact),
                        )
                    data = work / name
                    with open(data, "wb") as out:
                        remaining = size
                        while remaining:
                            chunk = stream.read(min(_CHUNK, remaining))
                            if not chunk:
                                raise EOFError("truncated")
                            out.write(chunk)
                            remaining -= len(chunk)
                    return data
                stream.seek(size + size % 2, os.SEEK_CUR)
    except (OSError, ValueError, EOFError) as error:
        raise DependencyError(f"cannot read the .deb: {error}", file=str(artifact)) from None
    raise DependencyError("the .deb has no data archive", file=str(artifact))


def _extract_tar(
    archive: Path, root: Path, strip: int, *, rooted: bool = False, source: Path | None = None
) -> None:
    """Unpack a tar archive into ``root``. ``rooted`` (a ``.deb``'s data): absolute symlink
    targets mean paths in the archive and are made relative to the link."""
    late_dirs: list[tuple[Path, int]] = []
    archive_name = str(source or archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                relative = _relative(member.name, strip, Path(archive_name))
                if relative is None:
                    continue
                path = _checked_path(root, relative, member.name, Path(archive_name))
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    late_dirs.append((path, member.mode & 0o7777 | 0o700))
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or (path.exists() and not path.is_dir()):
                    path.unlink()
                if member.issym():
                    linkname = member.linkname
                    if rooted and posixpath.isabs(linkname):
                        inside = _relative(linkname, strip, archive)
                        if inside is not None:
                            linkname = posixpath.relpath(inside, posixpath.dirname(relative))
                    link_target = posixpath.normpath(
                        posixpath.join(posixpath.dirname(relative), linkname)
                    )
                    if posixpath.isabs(linkname) or link_target.startswith(".."):
                        raise DependencyError(
                            f"refusing symlink {member.name!r} -> {member.linkname!r}: "
                            "it points outside the layer",
                            file=archive_name,
                        )
                    os.symlink(linkname, path)
                elif member.islnk():
                    linked = _relative(member.linkname, strip, Path(archive_name))
                    source = root / linked if linked else None
                    if source is None or not _inside(root, source) or not source.is_file():
                        raise DependencyError(
                            f"refusing hard link {member.name!r} -> {member.linkname!r}",
                            file=archive_name,
                        )
                    os.link(source, path)
                elif member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    with stream, open(path, "wb") as out:
                        shutil.copyfileobj(stream, out, _CHUNK)
                    os.chmod(path, member.mode & 0o777 | 0o600)
                else:
                    raise DependencyError(
                        f"refusing entry {member.name!r}: devices and fifos are not installed",
                        file=archive_name,
                    )
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DependencyError(f"cannot unpack: {error}", file=archive_name) from None
    for path, mode in reversed(late_dirs):
        os.chmod(path, mode)


def _extract_zip(archive: Path, root: Path, strip: int) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                relative = _relative(info.filename, strip, archive)
                if relative is None:
                    continue
                path = _checked_path(root, relative, info.filename, archive)
                if info.is_dir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as stream, open(path, "wb") as out:
                    shutil.copyfileobj(stream, out, _CHUNK)
                mode = (info.external_attr >> 16) & 0o777
                if mode and stat.S_IFMT(info.external_attr >> 16) != stat.S_IFLNK:
                    os.chmod(path, mode | 0o600)
    except (zipfile.BadZipFile, OSError) as error:
        raise DependencyError(f"cannot unpack: {error}", file=str(archive)) from None
