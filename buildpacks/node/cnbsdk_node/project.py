"""The app as the Node.js buildpack sees it: its directory, package.json and lockfile."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cnbsdk.buildpack import BuildpackError

LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json")


@dataclass(frozen=True)
class NodeProject:
    """``BP_NODE_PROJECT_PATH`` resolved, with the parsed ``package.json`` (empty if none)."""

    root: Path
    package: Mapping[str, Any]

    @property
    def package_json(self) -> Path:
        return self.root / "package.json"

    @property
    def lockfile(self) -> Path | None:
        for name in LOCKFILES:
            if (self.root / name).is_file():
                return self.root / name
        return None

    @property
    def scripts(self) -> Mapping[str, str]:
        scripts = self.package.get("scripts")
        if not isinstance(scripts, dict):
            return {}
        return {str(k): v for k, v in scripts.items() if isinstance(v, str)}

    def engine(self, name: str) -> str | None:
        engines = self.package.get("engines")
        value = engines.get(name) if isinstance(engines, dict) else None
        return value.strip() if isinstance(value, str) and value.strip() else None


def project_root(app_dir: Path, environ: Mapping[str, str]) -> Path:
    """The app's directory: ``BP_NODE_PROJECT_PATH`` below the workspace, or the workspace."""
    sub = environ.get("BP_NODE_PROJECT_PATH", "").strip()
    if not sub:
        return app_dir
    parts = PurePosixPath(sub).parts
    if PurePosixPath(sub).is_absolute() or ".." in parts:
        raise BuildpackError(
            f"BP_NODE_PROJECT_PATH={sub!r}: must be a path below the app directory"
        )
    root = app_dir.joinpath(*parts)
    if not root.is_dir():
        raise BuildpackError(f"BP_NODE_PROJECT_PATH={sub!r}: no such directory in the app")
    return root


def read_project(app_dir: Path, environ: Mapping[str, str]) -> NodeProject:
    """The project; invalid ``package.json`` is one line naming the file and the position."""
    root = project_root(app_dir, environ)
    path = root / "package.json"
    if not path.is_file():
        return NodeProject(root, {})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BuildpackError("is not UTF-8 text", file=str(path)) from None
    except json.JSONDecodeError as error:
        raise BuildpackError(
            f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}",
            file=str(path),
        ) from None
    if not isinstance(data, dict):
        raise BuildpackError("must hold a JSON object", file=str(path))
    return NodeProject(root, data)
