"""Putting the app's source into the build workspace (``<app>``, digest §4.2).

APP is a directory (copied) or a ``.jar``/``.zip`` file (unpacked, as ``pack build --path
app.zip`` does). ``project.toml``'s ``include`` or ``exclude`` (.gitignore syntax, matched
against paths relative to APP) decide which files reach the build: excluded files are never
copied, so no buildpack can see them (digest §8.46).

Copying keeps symlinks as symlinks and the executable bits; special files (sockets, fifos,
devices) are skipped. Unpacking refuses entries that would land outside ``<app>`` (absolute
names, ``..``, symlinks pointing out) with an error naming the archive and the entry.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from cnbsdk.errors import BuildError

ARCHIVE_SUFFIXES = (".jar", ".zip", ".war")

# Matches a relative path (``/``-separated); directories end in ``/``.
PathFilter = Callable[[str], bool]


@dataclass(frozen=True)
class AppSource:
    """What was put into ``<app>``: how many files, how many bytes, and from where."""

    origin: Path
    archive: bool
    files: int
    size: int
    skipped: int


def path_filter(
    include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> PathFilter | None:
    """A filter from project.toml's ``include`` or ``exclude`` (never both), or None."""
    if include is not None and exclude is not None:
        raise BuildError(
            "set include or exclude, not both",
            file="project.toml",
            field="io.buildpacks",
        )
    if include is not None:
        included = pathspec.GitIgnoreSpec.from_lines(include)
        return lambda path: included.match_file(path)
    if exclude is not None:
        excluded = pathspec.GitIgnoreSpec.from_lines(exclude)
        return lambda path: not excluded.match_file(path)
    return None


def is_archive(source: Path) -> bool:
    return source.is_file() and source.suffix.lower() in ARCHIVE_SUFFIXES


def prepare_app(
    source: str | os.PathLike[str], destination: Path, *, keep: PathFilter | None = None
) -> AppSource:
    """Copy (or unpack) ``source`` into the empty directory ``destination``."""
    origin = Path(source).absolute()
    if not origin.exists():
        raise BuildError("no such app directory or archive", file=str(origin))
    if origin.is_dir():
        files, size, skipped = _copy_tree(origin, destination, keep)
        return AppSource(origin, False, files, size, skipped)
    if is_archive(origin):
        files, size, skipped = _unpack_zip(origin, destination, keep)
        return AppSource(origin, True, files, size, skipped)
    raise BuildError(
        "the app must be a directory or a .jar/.zip/.war file",
        file=str(origin),
    )


# -- a directory --------------------------------------------------------------------------


def _copy_tree(origin: Path, destination: Path, keep: PathFilter | None) -> tuple[int, int, int]:
    files = size = skipped = 0
    for directory, dirnames, filenames in os.walk(origin):
        dirnames.sort()
        relative_dir = Path(directory).relative_to(origin)
        target_dir = destination / relative_dir
        target_dir.mkdir(parents=True, exist_ok=True)
        symlinked_dirs = [name for name in dirnames if (Path(directory) / name).is_symlink()]
        for name in symlinked_dirs:
            dirnames.remove(name)  # os.walk does not follow them; copy the link itself
        for name in sorted(filenames) + symlinked_dirs:
            relative = (relative_dir / name).as_posix()
            if keep is not None and not keep(relative):
                skipped += 1
                continue
            path = Path(directory) / name
            info = path.lstat()
            target = target_dir / name
            if stat.S_ISLNK(info.st_mode):
                target.symlink_to(os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                shutil.copyfile(path, target, follow_symlinks=False)
                target.chmod(_file_mode(info.st_mode))
                size += info.st_size
            else:
                skipped += 1  # sockets, fifos, devices: nothing a build can use
                continue
            files += 1
    if keep is not None:
        _prune_empty(destination)
    return files, size, skipped


def _file_mode(mode: int) -> int:
    # Readable by the build user whatever the host umask was; executables stay executable.
    return 0o755 if mode & 0o111 else 0o644


def _prune_empty(root: Path) -> None:
    """With include/exclude, drop the directories left empty by the filter, bottom up (pack
    writes only the files that pass)."""
    for directory, _dirs, _files in os.walk(root, topdown=False):
        path = Path(directory)
        if path != root and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()


# -- a .jar / .zip --------------------------------------------------------------------------


def _unpack_zip(archive: Path, destination: Path, keep: PathFilter | None) -> tuple[int, int, int]:
    files = size = skipped = 0
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                parts = _safe_parts(archive, info.filename)
                if not parts:
                    continue
                relative = "/".join(parts)
                target = destination.joinpath(*parts)
                mode = info.external_attr >> 16
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if keep is not None and not keep(relative):
                    skipped += 1
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if _is_link(target.parent, destination):
                    raise BuildError(
                        f"entry {info.filename!r} would be written through a symlink",
                        file=str(archive),
                    )
                if stat.S_ISLNK(mode):
                    link = zipped.read(info).decode("utf-8", errors="strict")
                    _check_link(archive, info.filename, parts, link)
                    target.symlink_to(link)
                else:
                    with zipped.open(info) as reader, open(target, "wb") as writer:
                        shutil.copyfileobj(reader, writer, 1 << 20)
                    target.chmod(_file_mode(mode))
                    size += info.file_size
                files += 1
    except zipfile.BadZipFile as error:
        raise BuildError(f"not a readable zip archive: {error}", file=str(archive)) from None
    except UnicodeDecodeError:
        raise BuildError("a symlink target is not UTF-8", file=str(archive)) from None
    return files, size, skipped


def _safe_parts(archive: Path, name: str) -> list[str]:
    """The path components of a zip entry, refusing any that would leave ``<app>``."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise BuildError(f"entry {name!r} has an absolute path", file=str(archive))
    parts = [part for part in PurePosixPath(normalized).parts if part not in ("", ".")]
    if ".." in parts:
        raise BuildError(f"entry {name!r} points outside the app (..)", file=str(archive))
    return parts


def _check_link(archive: Path, name: str, parts: list[str], link: str) -> None:
    if link.startswith("/"):
        raise BuildError(f"symlink {name!r} has an absolute target {link!r}", file=str(archive))
    depth = len(parts) - 1
    for part in PurePosixPath(link).parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            raise BuildError(
                f"symlink {name!r} points outside the app ({link!r})", file=str(archive)
            )


def _is_link(directory: Path, root: Path) -> bool:
    while directory != root and root in directory.parents:
        if directory.is_symlink():
            return True
        directory = directory.parent
    return False
