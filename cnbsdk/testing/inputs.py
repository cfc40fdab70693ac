"""Lay out what the lifecycle hands a buildpack: app files, platform dir, plan, restored layers.

Plain functions on directories; the pytest fixtures in ``plugin.py`` call them on tmp dirs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cnbsdk.lifecycle.layer_restore import Restored, restored
from cnbsdk.spec.buildpack_plan import BuildpackPlan, PlanEntry
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.store_toml import StoreToml

FileContent = str | bytes
PlanEntryLike = PlanEntry | str | Mapping[str, Any]
# Files the lifecycle writes in <layers>/<bp>/ that are not layers.
NON_LAYER_TOMLS = frozenset({"launch.toml", "build.toml", "store.toml"})


def write_files(root: Path, files: Mapping[str, FileContent]) -> Path:
    """Write ``{"relative/path": text or bytes}`` under ``root``; a path ending in ``/`` is a
    directory. Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in files.items():
        target = root / relative
        if relative.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


def write_platform_dir(
    root: Path,
    env: Mapping[str, str] | None = None,
    bindings: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """``<platform>/env/<NAME>`` files (values byte for byte) and servicebinding.io bindings:
    ``{"db": {"type": "postgresql", "password": "..."}}`` -> ``bindings/db/type`` etc."""
    (root / "env").mkdir(parents=True, exist_ok=True)
    for name, value in (env or {}).items():
        (root / "env" / name).write_bytes(value.encode("utf-8"))
    for name, entries in (bindings or {}).items():
        write_files(root / "bindings" / name, dict(entries))
    return root


def buildpack_plan(entries: BuildpackPlan | Iterable[PlanEntryLike]) -> BuildpackPlan:
    """A buildpack plan from entries given as PlanEntry, a name, or ``{"name", "metadata"}``."""
    if isinstance(entries, BuildpackPlan):
        return entries
    plan: list[PlanEntry] = []
    for entry in entries:
        if isinstance(entry, PlanEntry):
            plan.append(entry)
        elif isinstance(entry, str):
            plan.append(PlanEntry(name=entry))
        else:
            plan.append(PlanEntry(name=entry["name"], metadata=dict(entry.get("metadata", {}))))
    return BuildpackPlan(entries=tuple(plan))


def restore_layer(
    layers_dir: Path,
    name: str,
    *,
    metadata: Mapping[str, Any] | None = None,
    files: Mapping[str, FileContent] | None = None,
    sboms: Mapping[str, Any] | None = None,
) -> Path:
    """Put a layer where the restorer would: ``<name>.toml`` **without** ``[types]``
    (buildpack.md §Layer Types) and, when ``files`` is given, its contents. ``sboms`` maps an
    extension (``cdx.json``) to a JSON document for ``<name>.sbom.<ext>``."""
    layers_dir.mkdir(parents=True, exist_ok=True)
    content = LayerContentMetadata(types=None, metadata=dict(metadata or {}))
    content.write(layers_dir / f"{name}.toml")
    if files is not None:
        write_files(layers_dir / name, files)
    for extension, document in (sboms or {}).items():
        (layers_dir / f"{name}.sbom.{extension}").write_text(json.dumps(document))
    return layers_dir / name


def restore_store(layers_dir: Path, metadata: Mapping[str, Any]) -> None:
    """Put back ``store.toml`` as the restorer does after every build."""
    layers_dir.mkdir(parents=True, exist_ok=True)
    StoreToml(metadata=dict(metadata)).write(layers_dir / "store.toml")


def restore_from_previous_build(previous: Path, layers_dir: Path) -> list[str]:
    """Restore ``layers_dir`` from a previous build's layers dir, as the lifecycle's
    analyzer and restorer would, by the lifecycle's own rule (``lifecycle.layer_restore``):
    cached layers come back with their contents, launch-only layers as metadata only,
    launch+build layers without cache and build-only layers not at all; every restored toml
    loses ``[types]``; ``store.toml`` always comes back; launch/build SBOMs never do.
    Returns the names of the restored layers."""
    layers_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for toml in sorted(previous.glob("*.toml")):
        if toml.name in NON_LAYER_TOMLS:
            continue
        name = toml.name.removesuffix(".toml")
        content = LayerContentMetadata.read(toml)
        types = content.effective_types
        rule = restored(launch=types.launch, build=types.build, cache=types.cache)
        if rule is Restored.NOTHING:
            continue
        restore_layer(layers_dir, name, metadata=content.metadata)
        if rule is Restored.CONTENTS:
            if (previous / name).is_dir():
                shutil.copytree(previous / name, layers_dir / name, symlinks=True)
            for sbom in previous.glob(f"{name}.sbom.*.json"):
                shutil.copy2(sbom, layers_dir / sbom.name)
        names.append(name)
    if (previous / "store.toml").is_file():
        shutil.copy2(previous / "store.toml", layers_dir / "store.toml")
    return names
