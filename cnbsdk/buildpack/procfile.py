"""Reading a ``Procfile`` (Heroku's ``type: command`` lines), which language buildpacks take
as the app's own word on its processes."""

from __future__ import annotations

import re
from pathlib import Path

from cnbsdk.buildpack.results import Process
from cnbsdk.errors import BuildpackError

_LINE = re.compile(r"^([A-Za-z0-9_.-]+)\s*:\s*(.+)$")


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """``(type, command)`` pairs in file order; blank lines and ``#`` comments skipped; a line
    of another form is a one-line error naming the file and line."""
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _LINE.match(text)
        if not match:
            raise BuildpackError(
                f"line {number}: expected 'type: command', got {text[:60]!r}", file=str(path)
            )
        entries.append((match.group(1), match.group(2).strip()))
    return entries


def procfile_processes(path: Path, *, working_dir: str = "") -> list[Process]:
    """The Procfile's processes, each run by ``sh -c``; the default is ``web``, or the first
    one when there is no ``web``."""
    entries = read_procfile(path)
    has_web = any(kind == "web" for kind, _ in entries)
    return [
        Process(
            kind,
            ["sh", "-c", command],
            default=(kind == "web" or (not has_web and i == 0)),
            working_dir=working_dir,
        )
        for i, (kind, command) in enumerate(entries)
    ]
