"""The app's processes: a ``Procfile``, else ``scripts.start``, else the entry file."""

from __future__ import annotations

from pathlib import Path

from cnbsdk.buildpack import Process
from cnbsdk.buildpack.procfile import procfile_processes
from cnbsdk_node.project import NodeProject

ENTRY_FILES = ("server.js", "index.js", "app.js")


def processes(project: NodeProject, app_dir: Path) -> tuple[list[Process], str]:
    """The processes (``web`` the default) and where they came from, for the log."""
    working_dir = "" if project.root == app_dir else str(project.root)
    procfile = app_dir / "Procfile"
    if procfile.is_file():
        return procfile_processes(procfile, working_dir=working_dir), "Procfile"
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
