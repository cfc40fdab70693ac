"""The app image view of ``cnbsdk inspect``: what ``pack inspect`` shows, and more.

An app image is one with an ``io.buildpacks.lifecycle.metadata`` label. From its labels
(cnb-spec-digest §4.6) and its manifest this module gathers, as plain JSON-ready data
(``describe_app_image``, the ``--json`` document, keys listed in docs/commands.md): the
stack and the run image it sits on (reference, top layer, mirrors), whether it may be
rebased, the buildpacks and their versions, the processes with the default one marked, the
layers each buildpack contributed with their metadata, the app and lifecycle layers, and the
plain image facts. ``render_app_image`` turns that data into the text view. Nothing here
fetches a layer: labels, config and manifest are all it reads.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cnbsdk.oci.describe import image_facts, with_index_digest
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.image import ResolvedImage
from cnbsdk.oci.models import ImageConfig
from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    PROJECT_METADATA_LABEL,
    REBASABLE_LABEL,
    BuildMetadata,
    LifecycleMetadata,
    ProcessMetadata,
    ProjectMetadata,
)

STACK_ID_LABEL = "io.buildpacks.stack.id"
BASE_ID_LABEL = "io.buildpacks.base.id"
PROCESS_ENTRYPOINT_PREFIX = "/cnb/process/"
APP_VIEW_KIND = "app"


def is_app_image(config: ImageConfig) -> bool:
    """True when the image was exported by a lifecycle (it carries the lifecycle label)."""
    return LIFECYCLE_METADATA_LABEL in config.labels


class _LayerIndex:
    """Manifest descriptors by diffID, so a label's diffID shows its blob digest and size."""

    def __init__(self, resolved: ResolvedImage, config: ImageConfig) -> None:
        self.by_diff_id: dict[str, Descriptor] = {}
        for diff_id, descriptor in zip(config.diff_ids, resolved.manifest.layers, strict=False):
            self.by_diff_id.setdefault(diff_id, descriptor)

    def entry(self, diff_id: str) -> dict[str, Any]:
        """``{"diffID", "digest", "size"}``; digest '' and size null when not in the image."""
        descriptor = self.by_diff_id.get(diff_id)
        return {
            "diffID": diff_id,
            "digest": descriptor.digest if descriptor else "",
            "size": descriptor.size if descriptor else None,
        }


def _default_process(config: ImageConfig, build: BuildMetadata) -> str:
    """The process the image starts: named by its entrypoint (the platform may have chosen
    another than the buildpacks' default), else the buildpacks' default."""
    entrypoint = config.entrypoint or ()
    if len(entrypoint) == 1 and entrypoint[0].startswith(PROCESS_ENTRYPOINT_PREFIX):
        return entrypoint[0][len(PROCESS_ENTRYPOINT_PREFIX) :]
    return build.default_process


def _process(process: ProcessMetadata, default: str, image_working_dir: str) -> dict[str, Any]:
    return {
        "type": process.type,
        "default": process.type == default,
        "shell": "" if process.direct else "bash",
        "command": list(process.command),
        "args": list(process.args),
        "workingDir": process.working_dir or image_working_dir,
        "buildpackID": process.buildpack_id,
    }


def describe_app_image(
    reference: str, resolved: ResolvedImage, config: ImageConfig
) -> dict[str, Any]:
    """Everything the app view shows, as a JSON-ready document (``kind`` = ``"app"``)."""
    labels = config.labels
    lifecycle = LifecycleMetadata.from_json(labels[LIFECYCLE_METADATA_LABEL])
    raw_build = labels.get(BUILD_METADATA_LABEL)
    build = BuildMetadata.from_json(raw_build) if raw_build else BuildMetadata()
    raw_project = labels.get(PROJECT_METADATA_LABEL)
    project = ProjectMetadata.from_json(raw_project) if raw_project else ProjectMetadata()
    layers = _LayerIndex(resolved, config)
    run_image = lifecycle.run_image
    run_images = [{"name": run_image.image, "mirror": False}] if run_image.image else []
    run_images += [
        {"name": mirror, "mirror": True}
        for mirror in dict.fromkeys(run_image.mirrors)
        if mirror != run_image.image
    ]
    default = _default_process(config, build)
    versions = {bp.id: bp.version for bp in build.buildpacks}

    def lifecycle_layer(diff_id: str | None) -> dict[str, Any] | None:
        return layers.entry(diff_id) if diff_id else None

    description: dict[str, Any] = {
        "kind": APP_VIEW_KIND,
        **image_facts(reference, resolved, config),
        "stack": labels.get(STACK_ID_LABEL, "") or labels.get(BASE_ID_LABEL, ""),
        "base": {
            "reference": run_image.reference,
            "topLayer": run_image.top_layer,
            "image": run_image.image,
            "mirrors": list(run_image.mirrors),
        },
        "runImages": run_images,
        "rebasable": labels.get(REBASABLE_LABEL, "true").strip().lower() != "false",
        "buildpacks": [
            {"id": bp.id, "version": bp.version, "homepage": bp.homepage} for bp in build.buildpacks
        ],
        "extensions": [
            {"id": ext.id, "version": ext.version, "homepage": ext.homepage}
            for ext in build.extensions
        ],
        "defaultProcess": default,
        "processes": [_process(p, default, config.working_dir) for p in build.processes],
        "buildpackLayers": [
            {
                "id": entry.key,
                "version": entry.version or versions.get(entry.key, ""),
                "layers": [
                    {
                        "name": name,
                        **layers.entry(layer.sha),
                        "launch": layer.launch,
                        "build": layer.build,
                        "cache": layer.cache,
                        "metadata": dict(layer.data),
                    }
                    for name, layer in sorted(entry.layers.items())
                ],
                "store": dict(entry.store) if entry.store else None,
            }
            for entry in lifecycle.buildpacks
        ],
        "appLayers": [layers.entry(sha) for sha in lifecycle.app],
        "lifecycleLayers": {
            "sbom": lifecycle_layer(lifecycle.sbom),
            "launcher": lifecycle_layer(lifecycle.launcher),
            "config": lifecycle_layer(lifecycle.config),
            "processTypes": lifecycle_layer(lifecycle.process_types),
        },
        "launcher": {
            "version": build.launcher.version,
            "repository": build.launcher.repository,
            "commit": build.launcher.commit,
        },
        "project": project.to_dict().get("source", {}),
        "layerCount": len(resolved.manifest.layers),
    }
    return with_index_digest(description, resolved)


# -- text ---------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns, two spaces apart, as pack prints its tables."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _compact(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _flags(layer: Mapping[str, Any]) -> str:
    return ",".join(flag for flag in ("launch", "build", "cache") if layer.get(flag)) or "-"


def render_app_image(d: Mapping[str, Any], size_text: Callable[[int], str] = str) -> str:
    """The text view of ``describe_app_image``'s document; ``size_text`` formats byte
    counts (the CLI passes its one size formatter)."""

    def _size(entry: Mapping[str, Any]) -> str:
        return size_text(entry["size"]) if entry.get("size") is not None else "not in image"

    lines = [
        f"Reference: {d['reference']}",
        f"Digest:    {d['digest']}",
    ]
    if d.get("indexDigest"):
        lines.append(f"Index:     {d['indexDigest']}")
    lines += [
        f"Platform:  {d['platform']}",
        f"Created:   {d['created'] or '-'}",
        "",
        f"Stack: {d['stack'] or '-'}",
        "",
        "Base Image:",
        f"  Reference: {d['base']['reference'] or '-'}",
        f"  Top Layer: {d['base']['topLayer'] or '-'}",
        "",
        "Run Images:" + ("" if d["runImages"] else " -"),
        *(f"  {run['name']}" + (" (mirror)" if run["mirror"] else "") for run in d["runImages"]),
        "",
        f"Rebasable: {'true' if d['rebasable'] else 'false'}",
        "",
        "Buildpacks:" + ("" if d["buildpacks"] else " -"),
    ]
    if d["buildpacks"]:
        lines += _table(
            ("ID", "VERSION", "HOMEPAGE"),
            [(bp["id"], bp["version"] or "-", bp["homepage"] or "-") for bp in d["buildpacks"]],
        )
    if d["extensions"]:
        lines += ["", "Extensions:"]
        lines += _table(
            ("ID", "VERSION", "HOMEPAGE"),
            [(ex["id"], ex["version"] or "-", ex["homepage"] or "-") for ex in d["extensions"]],
        )
    lines += ["", "Processes:" + ("" if d["processes"] else " -")]
    if d["processes"]:
        ordered = sorted(d["processes"], key=lambda p: not p["default"])  # default first
        lines += _table(
            ("TYPE", "SHELL", "COMMAND", "ARGS", "WORK DIR"),
            [
                (
                    p["type"] + (" (default)" if p["default"] else ""),
                    p["shell"],
                    shlex.join(p["command"]),
                    shlex.join(p["args"]),
                    p["workingDir"] or "-",
                )
                for p in ordered
            ],
        )
    lines += ["", "Buildpack Layers:" + ("" if d["buildpackLayers"] else " -")]
    for entry in d["buildpackLayers"]:
        lines.append(f"  {entry['id']} {entry['version']}".rstrip())
        if not entry["layers"]:
            lines.append("    (no layers in the image)")
        width = max((len(layer["name"]) for layer in entry["layers"]), default=0)
        for layer in entry["layers"]:
            lines.append(
                f"    {layer['name']:<{width}}  {layer['diffID']}  {_size(layer)}  {_flags(layer)}"
            )
            if layer["metadata"]:
                lines.append(f"      metadata: {_compact(layer['metadata'])}")
        if entry["store"]:
            lines.append(f"    store: {_compact(entry['store'])}")
    lines += ["", f"App Layers ({len(d['appLayers'])}):"]
    lines += [f"  {layer['diffID']}  {_size(layer)}" for layer in d["appLayers"]]
    lines += ["", "Lifecycle Layers:"]
    for name, layer in d["lifecycleLayers"].items():
        text = f"{layer['diffID']}  {_size(layer)}" if layer else "-"
        lines.append(f"  {name + ':':<14}{text}")
    launcher = d["launcher"]
    if launcher["version"]:
        lines.append(f"  launcher version {launcher['version']}")
    if d["project"]:
        lines += ["", f"Project source: {_compact(d['project'])}"]
    entrypoint = d["entrypoint"]
    lines += [
        "",
        "Image:",
        f"  Layers:      {d['layerCount']}",
        f"  User:        {d['user'] or '-'}",
        f"  Entrypoint:  {json.dumps(entrypoint) if entrypoint is not None else '-'}",
        f"  Working dir: {d['workingDir'] or '-'}",
        "  Env:" + ("" if d["env"] else " -"),
        *(f"    {item}" for item in d["env"]),
    ]
    return "\n".join(lines)
