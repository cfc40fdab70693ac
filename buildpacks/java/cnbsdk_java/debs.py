"""Installing Debian packages (``.deb`` files) into a layer as a small root file system.

Debian's Java packages are made for ``/``: the JDK's ``conf/`` and Maven's ``conf`` are
absolute symlinks into ``/etc``. Unpacked into a layer, every absolute link is re-rooted at
the layer (``/etc/maven`` becomes ``../../../etc/maven``), so the tree works wherever the
layer lies. Nothing is run: no maintainer scripts, as for the stack's packages. Refused, as
for any dependency archive: ``..`` components, links leaving the layer, devices.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile
from pathlib import Path

from cnbsdk.errors import DependencyError

_AR_MAGIC = b"!<arch>\n"
_HEADER = 60


def data_member(deb: Path) -> tuple[str, bytes]:
    """The name and bytes of the ``data.tar.*`` member of the ``ar`` archive ``deb``."""
    with open(deb, "rb") as stream:
        if stream.read(len(_AR_MAGIC)) != _AR_MAGIC:
            raise DependencyError("not a Debian package (no ar header)", file=str(deb))
        while True:
            header = stream.read(_HEADER)
            if len(header) < _HEADER:
                break
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError:
                raise DependencyError("a damaged ar header", file=str(deb)) from None
            if name.startswith("data.tar"):
                return name, stream.read(size)
            stream.seek(size + size % 2, os.SEEK_CUR)
    raise DependencyError("no data.tar member", file=str(deb))


def _parts(name: str, deb: Path) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DependencyError(f"refusing entry {name!r}: it has a '..' component", file=str(deb))
    return parts


def _link_target(relative: str, linkname: str, deb: Path) -> str:
    """The link's target, relative and inside the layer root."""
    directory = posixpath.dirname(relative)
    if posixpath.isabs(linkname):
        inside = posixpath.normpath(linkname.lstrip("/"))
        return posixpath.relpath(inside, directory or ".")
    resolved = posixpath.normpath(posixpath.join(directory, linkname))
    if resolved == ".." or resolved.startswith("../"):
        raise DependencyError(
            f"refusing symlink {relative!r} -> {linkname!r}: it points outside the layer",
            file=str(deb),
        )
    return linkname


def install_deb(deb: Path, root: Path) -> None:
    """Unpack the files of ``deb`` under ``root`` (``usr/...``, ``etc/...``)."""
    name, data = data_member(deb)
    root.mkdir(parents=True, exist_ok=True)
    real_root = os.path.realpath(root)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar:
                parts = _parts(member.name, deb)
                if not parts:
                    continue
                relative = "/".join(parts)
                path = root / relative
                parent = os.path.realpath(path.parent)
                if parent != real_root and not parent.startswith(real_root + os.sep):
                    raise DependencyError(
                        f"refusing entry {member.name!r}: it would be written through a link",
                        file=str(deb),
                    )
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                if path.is_symlink() or path.is_file():
                    path.unlink()
                if member.issym():
                    os.symlink(_link_target(relative, member.linkname, deb), path)
                elif member.islnk():
                    source = root / "/".join(_parts(member.linkname, deb))
                    if not source.is_file():
                        raise DependencyError(
                            f"refusing hard link {member.name!r} -> {member.linkname!r}",
                            file=str(deb),
                        )
                    os.link(source, path)
                elif member.isfile():
                    stream = tar.extractfile(member)
                    assert stream is not None
                    with stream, open(path, "wb") as out:
                        shutil.copyfileobj(stream, out, 1 << 20)
                    os.chmod(path, member.mode & 0o777 | 0o600)
                else:
                    raise DependencyError(
                        f"refusing entry {member.name!r}: devices and fifos are not installed",
                        file=str(deb),
                    )
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DependencyError(f"cannot unpack {name}: {error}", file=str(deb)) from None
