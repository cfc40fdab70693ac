"""Unpacking a dependency archive into a layer, safely and with ``strip-components``.

Only the standard library (this room is vendored into buildpacks). Refused: absolute names
that would leave the target after stripping, any ``..`` component, writing through a
symlink that leads outside the target, symlinks or hard links pointing outside it, and
device nodes. Archives that are not tar or zip files are copied as they are.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

from cnbsdk.deps.download import copy_file
from cnbsdk.errors import DependencyError

_CHUNK = 1 << 20


def install_artifact(artifact: Path, target: Path, *, strip_components: int = 0) -> None:
    """Extract a tar (any compression) or zip archive into ``target``; copy anything else
    to ``target/<file name>``."""
    target.mkdir(parents=True, exist_ok=True)
    if tarfile.is_tarfile(artifact):
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


def _extract_tar(archive: Path, root: Path, strip: int) -> None:
    late_dirs: list[tuple[Path, int]] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                relative = _relative(member.name, strip, archive)
                if relative is None:
                    continue
                path = _checked_path(root, relative, member.name, archive)
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    late_dirs.append((path, member.mode & 0o7777 | 0o700))
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or (path.exists() and not path.is_dir()):
                    path.unlink()
                if member.issym():
                    link_target = posixpath.normpath(
                        posixpath.join(posixpath.dirname(relative), member.linkname)
                    )
                    if posixpath.isabs(member.linkname) or link_target.startswith(".."):
                        raise DependencyError(
                            f"refusing symlink {member.name!r} -> {member.linkname!r}: "
                            "it points outside the layer",
                            file=str(archive),
                        )
                    os.symlink(member.linkname, path)
                elif member.islnk():
                    linked = _relative(member.linkname, strip, archive)
                    source = root / linked if linked else None
                    if source is None or not _inside(root, source) or not source.is_file():
                        raise DependencyError(
                            f"refusing hard link {member.name!r} -> {member.linkname!r}",
                            file=str(archive),
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
                        file=str(archive),
                    )
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DependencyError(f"cannot unpack: {error}", file=str(archive)) from None
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
