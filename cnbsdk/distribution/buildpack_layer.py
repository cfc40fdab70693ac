"""One buildpack as one image layer, the way pack lays it out (cnb-spec-digest §5.1).

The layer holds ``/cnb/buildpacks/<escaped id>`` (0755), ``<escaped id>/<version>`` (0755)
and the buildpack's files below it. Every entry is root:root with mtime
1980-01-01T00:00:01Z; directories, ``bin/build|detect|generate`` and any executable file are
0755, everything else 0644. The tar therefore depends only on the buildpack's content:
packaging the same directory twice gives the same diffID and digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from cnbsdk.oci.layer_tar import (
    DIR,
    FILE,
    HARDLINK,
    Layer,
    TarEntry,
    walk_dir,
    write_layer_from_entries,
)
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

BUILDPACKS_DIR = "/cnb/buildpacks"
_ENTRY_POINTS = frozenset({"build", "detect", "generate"})


def buildpack_path(descriptor: BuildpackDescriptor) -> str:
    """``/cnb/buildpacks/<escaped id>/<version>``: where the buildpack sits in the image."""
    info = descriptor.buildpack
    return f"{BUILDPACKS_DIR}/{info.id.escaped}/{info.version}"


def buildpack_layer(directory: Path, descriptor: BuildpackDescriptor, out_dir: Path) -> Layer:
    """Write the gzipped layer of the buildpack in ``directory`` into ``out_dir``."""
    return write_layer_from_entries(
        _entries(Path(directory), descriptor), Path(out_dir), sort=False
    )


def _entries(directory: Path, descriptor: BuildpackDescriptor) -> Iterator[TarEntry]:
    root = buildpack_path(descriptor)
    yield TarEntry.dir(root.rsplit("/", 1)[0])
    for entry in walk_dir(directory, prefix=root, include_root=True):
        yield replace(entry, mode=_mode(entry, root), uid=0, gid=0)


def _mode(entry: TarEntry, root: str) -> int:
    """pack's modes: 0755 for directories, entry points and executables, else 0644."""
    if entry.kind == DIR:
        return 0o755
    if entry.kind not in (FILE, HARDLINK):
        return entry.mode
    relative = entry.path[len(root) :].lstrip("/")
    head, _, name = relative.rpartition("/")
    if (head == "bin" and name in _ENTRY_POINTS) or entry.mode & 0o111:
        return 0o755
    return 0o644


def buildpack_layers_label_entry(descriptor: BuildpackDescriptor, diff_id: str) -> dict[str, Any]:
    """One ``{id: {version: <this>}}`` value of ``io.buildpacks.buildpack.layers``, with the
    keys pack's ``dist.ModuleLayerInfo`` writes (empty ones left out)."""
    info = descriptor.buildpack
    entry: dict[str, Any] = {"api": str(descriptor.api)}
    if descriptor.stacks:
        entry["stacks"] = [stack.to_dict() for stack in descriptor.stacks]
    if descriptor.targets:
        entry["targets"] = [target.to_dict() for target in descriptor.targets]
    if descriptor.order:
        entry["order"] = [group.to_dict() for group in descriptor.order]
    entry["layerDiffID"] = diff_id
    if info.homepage:
        entry["homepage"] = info.homepage
    if info.name:
        entry["name"] = info.name
    return entry
