"""Where the wanted Node.js version comes from, in priority order: ``BP_NODE_VERSION``,
``package.json "engines"``, ``.nvmrc``, ``.node-version`` (else the catalog's default)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from cnbsdk.deps.planner import VersionRequest
from cnbsdk_node.project import NodeProject

_LTS_ALIAS = re.compile(r"^lts/", re.IGNORECASE)


def normalise(text: str) -> str:
    """An nvm-style version as a constraint: ``v22.1.0`` → ``22.1.0``; ``node`` and
    ``lts/*`` (or ``lts/<codename>``) → the default (empty): the catalog holds LTS lines."""
    value = text.strip()
    if (
        not value
        or value.lower() in ("node", "stable", "latest", "current")
        or _LTS_ALIAS.match(value)
    ):
        return ""
    if value[:1] in ("v", "V") and value[1:2].isdigit():
        return value[1:]
    return value


def _file_request(root: Path, name: str) -> VersionRequest | None:
    path = root / name
    if not path.is_file():
        return None
    lines = [
        line.split("#", 1)[0].strip() for line in path.read_text(errors="replace").splitlines()
    ]
    first = next((line for line in lines if line), "")
    return VersionRequest(name, normalise(first))


def version_requests(
    project: NodeProject, environ: Mapping[str, str]
) -> list[VersionRequest | None]:
    env = environ.get("BP_NODE_VERSION", "")
    engines = project.engine("node")
    return [
        VersionRequest("BP_NODE_VERSION", normalise(env)) if env.strip() else None,
        VersionRequest('package.json "engines"', engines) if engines else None,
        _file_request(project.root, ".nvmrc"),
        _file_request(project.root, ".node-version"),
    ]
