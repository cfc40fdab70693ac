"""The SBOMs: Node.js and every production package from the lockfile at launch; the dev
packages in the build SBOM."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import Component
from cnbsdk.buildpack.dependency_layer import dependency_component
from cnbsdk.spec.buildpack_toml import Dependency


def npm_purl(name: str, version: str) -> str:
    """``pkg:npm/express@4.21.2``; a scope's ``@`` is percent-encoded."""
    if name.startswith("@") and "/" in name:
        scope, package = name[1:].split("/", 1)
        return f"pkg:npm/%40{urllib.parse.quote(scope)}/{urllib.parse.quote(package)}@{version}"
    return f"pkg:npm/{urllib.parse.quote(name)}@{version}"


def npm_component(entry: dict[str, Any], *, default_name: str = "") -> Component | None:
    """A package (a lockfile entry or a package.json) as an SBOM component; None without a
    name and a version."""
    name = entry.get("name") or default_name
    version = entry.get("version")
    if not isinstance(name, str) or not name or not isinstance(version, str):
        return None
    licence = entry.get("license")
    return Component(
        name=name,
        version=version,
        purl=npm_purl(name, version),
        licenses=(licence,) if isinstance(licence, str) and licence else (),
    )


def lockfile_components(lockfile: Path | None) -> tuple[list[Component], list[Component]]:
    """(production, dev) packages of a lockfile v2/v3 (``packages`` map)."""
    if lockfile is None:
        return [], []
    try:
        data = json.loads(lockfile.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        return [], []
    packages = data.get("packages") if isinstance(data, dict) else None
    if not isinstance(packages, dict):
        return [], []
    production: dict[str, Component] = {}
    dev: dict[str, Component] = {}
    # top-level packages first: their entries carry the most (licence and all)
    for path, entry in sorted(
        packages.items(), key=lambda item: (item[0].count("node_modules/"), item[0])
    ):
        if not path or not isinstance(entry, dict) or entry.get("link"):
            continue
        component = npm_component(entry, default_name=path.rsplit("node_modules/", 1)[-1])
        if component is None:
            continue
        target = dev if entry.get("dev") else production
        target.setdefault(component.purl, component)
    return list(production.values()), list(dev.values())


def installed_components(node_modules: Path) -> list[Component]:
    """The packages of an installed tree (yarn's and pnpm's lockfiles are not JSON): every
    ``package.json`` of a package directory, pnpm's ``.pnpm`` store included."""
    found: dict[str, Component] = {}
    if not node_modules.is_dir():
        return []
    for manifest in sorted(node_modules.rglob("package.json")):
        directory = manifest.parent
        if directory.parent.name != "node_modules" and not (
            directory.parent.name.startswith("@") and directory.parent.parent.name == "node_modules"
        ):
            continue  # a package's own files (test fixtures, sub-manifests)
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue
        component = npm_component(data) if isinstance(data, dict) else None
        if component is not None:
            found.setdefault(component.purl, component)
    return sorted(found.values(), key=lambda c: c.purl)


def launch_components(
    node: Dependency, lockfile: Path | None, node_modules: Path | None = None
) -> list[Component]:
    """Node.js and the production packages: from an npm lockfile, else the installed tree."""
    if lockfile is not None and lockfile.name.endswith(".json"):
        production, _dev = lockfile_components(lockfile)
    else:
        production = installed_components(node_modules) if node_modules else []
    return [dependency_component(node), *production]
