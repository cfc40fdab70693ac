"""The app layers of an app image: the app dir cut by ``metadata.toml``'s slices (Go
``filepath.Match`` globs, as the lifecycle matches them), one layer per slice, earlier slices
first, then the rest."""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from cnbsdk.errors import BuildError
from cnbsdk.oci.layer_tar import DIR, FILE, HARDLINK, TarEntry, walk_dir


def go_glob(pattern: str) -> re.Pattern[str]:
    """A regex equal to Go's ``filepath.Match(pattern, name)`` on ``/``-separated names:
    ``*`` and ``?`` never match ``/``, ``[^...]`` negates a class, ``\\`` escapes."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end, cls = _go_class(pattern, i)
            out.append(cls)
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _go_class(pattern: str, start: int) -> tuple[int, str]:
    """The regex of the ``[...]`` class at ``start`` and the index of its ``]``."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    parts: list[str] = []
    while i < len(pattern) and (pattern[i] != "]" or not parts):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            char = pattern[i]
        parts.append(re.escape(char) if char != "-" or not parts else "-")
        i += 1
    if i >= len(pattern) or not parts:
        raise BuildError(f"invalid slice pattern {pattern!r}: unclosed '['", field="slices")
    body = "".join(parts)
    return i, f"[^/{body}]" if negate else f"[{body}]"


def _slice_patterns(paths: Sequence[str], app_prefix: str) -> list[re.Pattern[str]]:
    """Slice paths as regexes on paths relative to the app dir (lifecycle joins each with
    the app dir, so ``./x`` and ``/workspace/x`` mean ``x``; ``.`` is the whole app)."""
    patterns = []
    for path in paths:
        text = path
        if text.startswith(app_prefix + "/"):
            text = text[len(app_prefix) + 1 :]
        text = posixpath.normpath(text.lstrip("/"))
        patterns.append(re.compile(".*", re.DOTALL) if text == "." else go_glob(text))
    return patterns


def slice_app(
    app_dir: Path, slices: Sequence[Sequence[str]], *, app_prefix: str, uid: int, gid: int
) -> list[list[TarEntry]]:
    """The entries of each app layer: one per slice (earlier slices claim files first), then
    the rest. A matched directory brings its whole subtree; each slice also holds the app
    dir and the directories leading to its files. An empty slice holds only the app dir."""
    entries = list(walk_dir(app_dir, prefix=app_prefix, uid=uid, gid=gid))
    root = entries[0]
    rels = [e.path[len(app_prefix) + 1 :] for e in entries]
    by_path = {e.path: e for e in entries}
    claimed: set[int] = {0}
    layers: list[list[TarEntry]] = []
    for paths in slices:
        patterns = _slice_patterns(paths, app_prefix)
        mine: list[int] = []
        matched_dirs: list[str] = []
        for index in range(1, len(entries)):
            if index in claimed:
                continue
            rel = rels[index]
            if any(rel.startswith(d + "/") for d in matched_dirs) or any(
                p.match(rel) for p in patterns
            ):
                mine.append(index)
                if entries[index].kind == DIR:
                    matched_dirs.append(rel)
        claimed.update(mine)
        layers.append(_with_parents(root, [entries[i] for i in mine], by_path, app_prefix))
    rest = [entries[i] for i in range(len(entries)) if i not in claimed]
    layers.append([root, *rest])
    return [_resolve_hardlinks(layer, app_dir, app_prefix) for layer in layers]


def _with_parents(
    root: TarEntry, chosen: list[TarEntry], by_path: Mapping[str, TarEntry], app_prefix: str
) -> list[TarEntry]:
    paths = {e.path for e in chosen}
    parents: dict[str, TarEntry] = {}
    for entry in chosen:
        parent = posixpath.dirname(entry.path)
        while parent != app_prefix and parent not in paths and parent not in parents:
            parents[parent] = by_path[parent]
            parent = posixpath.dirname(parent)
    ordered = sorted([*chosen, *parents.values()], key=lambda e: _sort_key(e.path))
    return [root, *ordered]


def _sort_key(path: str) -> tuple[bytes, ...]:
    return tuple(os.fsencode(p) for p in path.split("/") if p)


def _resolve_hardlinks(entries: list[TarEntry], app_dir: Path, app_prefix: str) -> list[TarEntry]:
    """A hard link whose first path went to another layer becomes a regular file."""
    present = {e.path for e in entries if e.kind == FILE}
    out = []
    for entry in entries:
        if entry.kind == HARDLINK and entry.linkname not in present:
            source = app_dir / entry.path[len(app_prefix) + 1 :]
            entry = TarEntry.file(
                entry.path, source=source, mode=entry.mode, uid=entry.uid, gid=entry.gid
            )
            present.add(entry.path)
        out.append(entry)
    return out
