"""The app's processes: a ``Procfile``, else ``scripts.start``, else the entry file."""

from __future__ import annotations

import re
from pathlib import Path

from cnbsdk.buildpack import BuildpackError, Process
from cnbsdk_node.project import NodeProject

_PROCFILE_LINE = re.compile(r"^([A-Za-z0-9_.-]+)\s*:\s*(.+)$")
ENTRY_FILES = ("server.js", "index.js", "app.js")


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """``type: command`` lines; blank lines and ``#`` comments skipped."""
    entries = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        match = _PROCFILE_LINE.match(text)
        if not match:
            raise BuildpackError(
                f"line {number}: expected 'type: command', got {text[:60]!r}", file=str(path)
            )
        entries.append((match.group(1), match.group(2).strip()))
    return entries


def processes(project: NodeProject, app_dir: Path) -> tuple[list[Process], str]:
    """The processes (``web`` the default) and where they came from, for the log."""
    working_dir = "" if project.root == app_dir else str(project.root)
    procfile = app_dir / "Procfile"
    if procfile.is_file():
        entries = read_procfile(procfile)
        has_web = any(kind == "web" for kind, _ in entries)
        found = [
            Process(
                kind,
                ["sh", "-c", command],
                default=(kind == "web" or (not has_web and i == 0)),
                working_dir=working_dir,
            )
            for i, (kind, command) in enumerate(entries)
        ]
        return found, "Procfile"
    start = project.scripts.get("start")
    if start:
        return [
            Process("web", ["sh", "-c", start], default=True, working_dir=working_dir)
        ], 'package.json "scripts.start"'
    main = project.package.get("main")
    candidates = [main] if isinstance(main, str) and main.strip() else []
    candidates += list(ENTRY_FILES)
    for name in candidates:
        if (project.root / name).is_file():
            return [
                Process(
                    "web",
                    ["node", name],
                    default=True,
                    working_dir=working_dir or str(project.root),
                )
            ], name
    return [], ""
