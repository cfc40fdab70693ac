"""The app's processes: a ``Procfile``, else ``scripts.start``, else the entry file."""

from __future__ import annotations

from pathlib import Path

from cnbsdk.buildpack import Process
from cnbsdk.buildpack.procfile import read_procfile
from cnbsdk_node.project import NodeProject

ENTRY_FILES = ("server.js", "index.js", "app.js")


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
