"""Reading a builder image back: what ``pack builder inspect`` shows, and its buildpacks.

Works on any builder with pack's labels (``io.buildpacks.builder.metadata``,
``io.buildpacks.buildpack.order``, ``io.buildpacks.buildpack.layers``), whether cnbsdk,
pack or kpack made it, from the local store, an OCI layout or a registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.distribution.builder import (
    BUILDER_METADATA_LABEL,
    BUILDPACK_LAYERS_LABEL,
    BUILDPACK_ORDER_LABEL,
    STACK_ID_LABEL,
)
from cnbsdk.errors import CnbError, ImageError
from cnbsdk.oci.extract import extract_image_layer
from cnbsdk.oci.image import ResolvedImage, resolve_image
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_source, read_manifest_and_config
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.order import OrderGroup
from cnbsdk.spec.platform_files import RunImage


@dataclass(frozen=True)
class BuilderBuildpackInfo:
    """One buildpack as the builder's labels describe it."""

    id: str
    version: str
    homepage: str = ""
    name: str = ""
    diff_id: str = ""
    order: tuple[OrderGroup, ...] = ()  # a composite's own order


@dataclass(frozen=True)
class BuilderInfo:
    """A builder image, read from its config and labels."""

    reference: str
    digest: str
    description: str
    created_by: tuple[str, str]
    stack_id: str
    run_images: tuple[RunImage, ...]
    lifecycle_version: str
    apis: Mapping[str, Any]
    buildpacks: tuple[BuilderBuildpackInfo, ...]
    order: tuple[OrderGroup, ...]
    uid: int | None
    gid: int | None
    config: ImageConfig = field(repr=False, default_factory=ImageConfig)

    def buildpack(self, id: str, version: str) -> BuilderBuildpackInfo | None:
        for bp in self.buildpacks:
            if (bp.id, bp.version) == (id, version):
                return bp
        return None

    def supported_apis(self, kind: str) -> tuple[str, ...]:
        part = self.apis.get(kind, {})
        return tuple(part.get("supported", []) or []) if isinstance(part, Mapping) else ()

    def deprecated_apis(self, kind: str) -> tuple[str, ...]:
        part = self.apis.get(kind, {})
        return tuple(part.get("deprecated", []) or []) if isinstance(part, Mapping) else ()


def is_builder(config: ImageConfig) -> bool:
    return BUILDER_METADATA_LABEL in config.labels


def _label_json(config: ImageConfig, name: str, reference: str, default: Any) -> Any:
    raw = config.labels.get(name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise ImageError(f"label {name} is not valid JSON: {error}", file=reference) from None


def builder_info(reference: str, digest: str, config: ImageConfig) -> BuilderInfo:
    """Interpret a builder's config (raises ImageError when it is not a builder)."""
    if not is_builder(config):
        raise ImageError(f"is not a builder (no {BUILDER_METADATA_LABEL} label)", file=reference)
    metadata = _label_json(config, BUILDER_METADATA_LABEL, reference, {})
    order_json = _label_json(config, BUILDPACK_ORDER_LABEL, reference, [])
    layers = _label_json(config, BUILDPACK_LAYERS_LABEL, reference, {})
    if not isinstance(metadata, dict) or not isinstance(order_json, list):
        raise ImageError("builder labels have the wrong shape", file=reference)
    try:
        order = _order(order_json, BUILDPACK_ORDER_LABEL)
        buildpacks = _buildpacks(metadata, layers)
    except CnbError as error:
        raise ImageError(f"unreadable builder labels: {error}", file=reference) from None
    images = metadata.get("images") or []
    if not images:
        stack_run = (metadata.get("stack") or {}).get("runImage") or {}
        images = [stack_run] if stack_run.get("image") else []
    run_images = tuple(
        RunImage(str(i.get("image", "")), tuple(str(m) for m in i.get("mirrors") or ()))
        for i in images
        if isinstance(i, dict) and i.get("image")
    )
    lifecycle = metadata.get("lifecycle") or {}
    created = metadata.get("createdBy") or {}
    env = config.env_dict()
    uid, gid = env.get("CNB_USER_ID", ""), env.get("CNB_GROUP_ID", "")
    return BuilderInfo(
        reference=reference,
        digest=digest,
        description=str(metadata.get("description", "") or ""),
        created_by=(str(created.get("name", "")), str(created.get("version", ""))),
        stack_id=config.labels.get(STACK_ID_LABEL, ""),
        run_images=run_images,
        lifecycle_version=str(lifecycle.get("version", "")),
        apis=lifecycle.get("apis") or {},
        buildpacks=buildpacks,
        order=order,
        uid=_numeric(uid),
        gid=_numeric(gid),
        config=config,
    )


def _order(data: list[Any], where: str) -> tuple[OrderGroup, ...]:
    f = Fields({"order": data}, file=where)
    from cnbsdk.spec.order import parse_order

    return parse_order(f, "order", version_required=False)


def _buildpacks(metadata: dict[str, Any], layers: Any) -> tuple[BuilderBuildpackInfo, ...]:
    listed = {
        (str(bp.get("id", "")), str(bp.get("version", ""))): bp
        for bp in metadata.get("buildpacks") or []
        if isinstance(bp, dict)
    }
    found: dict[tuple[str, str], BuilderBuildpackInfo] = {}
    if isinstance(layers, dict):
        for bp_id, versions in layers.items():
            if not isinstance(versions, dict):
                continue
            for version, entry in versions.items():
                if not isinstance(entry, dict):
                    continue
                described = listed.get((bp_id, version), {})
                found[(bp_id, version)] = BuilderBuildpackInfo(
                    id=bp_id,
                    version=version,
                    homepage=str(entry.get("homepage") or described.get("homepage") or ""),
                    name=str(entry.get("name") or described.get("name") or ""),
                    diff_id=str(entry.get("layerDiffID", "")),
                    order=_order(entry.get("order") or [], f"{BUILDPACK_LAYERS_LABEL}.{bp_id}"),
                )
    for key, described in listed.items():
        if key not in found:
            found[key] = BuilderBuildpackInfo(
                id=key[0],
                version=key[1],
                homepage=str(described.get("homepage", "") or ""),
                name=str(described.get("name", "") or ""),
            )
    return tuple(found[key] for key in sorted(found))


def _numeric(text: str) -> int | None:
    """A uid/gid from a label or env: ASCII digits of a 32-bit id, else None."""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= 2**32 - 2:
        return int(text)
    return None


def read_builder(reference: str) -> BuilderInfo:
    """Read a builder's labels from wherever it is (store, ``oci:``, registry)."""
    resolved, config = read_manifest_and_config(reference)
    return builder_info(reference, resolved.digest, config)


def extract_buildpacks(reference: str, info: BuilderInfo, target: Path) -> Path:
    """Unpack only the builder's buildpack layers (by the label's ``layerDiffID``s) into
    ``target``; returns ``target/cnb/buildpacks``, laid out ``<escaped id>/<version>``."""
    wanted = {bp.diff_id for bp in info.buildpacks if bp.diff_id}
    source = open_source(reference)
    try:
        resolved = resolve_image(source)
        for descriptor, diff_id in zip(
            resolved.manifest.layers, info.config.diff_ids, strict=False
        ):
            if diff_id not in wanted:
                continue
            extract_image_layer(source, descriptor, diff_id, target)
    finally:
        source.close()
    return target / "cnb" / "buildpacks"


# -- what `cnbsdk inspect` shows -------------------------------------------------------------


def describe_builder(info: BuilderInfo) -> dict[str, Any]:
    """The builder part of ``cnbsdk inspect --json`` (``render_builder`` prints it)."""
    buildpacks = []
    for bp in info.buildpacks:
        entry: dict[str, Any] = {"id": bp.id, "version": bp.version}
        if bp.name:
            entry["name"] = bp.name
        if bp.homepage:
            entry["homepage"] = bp.homepage
        if bp.order:
            entry["order"] = [group.to_dict() for group in bp.order]
        buildpacks.append(entry)
    return {
        "reference": info.reference,
        "digest": info.digest,
        "description": info.description,
        "createdBy": {"name": info.created_by[0], "version": info.created_by[1]},
        "stack": {"id": info.stack_id},
        "runImages": [image.to_dict() for image in info.run_images],
        "lifecycle": {"version": info.lifecycle_version, "apis": dict(info.apis)},
        "buildpacks": buildpacks,
        "detectionOrder": [group.to_dict() for group in info.order],
    }


def describe_builder_image(
    reference: str, resolved: ResolvedImage, config: ImageConfig
) -> dict[str, Any]:
    """``describe_builder`` for an image ``cnbsdk inspect`` has already read."""
    return describe_builder(builder_info(reference, resolved.digest, config))


def render_builder(d: Mapping[str, Any], *, depth: int = -1) -> str:
    """The text of ``pack builder inspect`` from ``describe_builder``'s data: created by,
    stack, lifecycle APIs, run images, the buildpacks table and the detection order as a
    tree (composite buildpacks expanded, ``depth`` levels deep; -1: all)."""
    none = "(none)"
    created = d.get("createdBy", {})
    lines = [f"Inspecting builder: '{d.get('reference', '')}'", ""]
    lines.append(f"Description: {d.get('description') or none}")
    lines += ["", "Created By:", f"  Name: {created.get('name') or none}"]
    lines.append(f"  Version: {created.get('version') or none}")
    lines += ["", "Stack:", f"  ID: {d.get('stack', {}).get('id') or none}"]
    lifecycle = d.get("lifecycle", {})
    lines += ["", "Lifecycle:", f"  Version: {lifecycle.get('version') or none}"]
    apis = lifecycle.get("apis", {})
    for title, kind in (("Buildpack APIs", "buildpack"), ("Platform APIs", "platform")):
        part = apis.get(kind, {}) if isinstance(apis, Mapping) else {}
        lines.append(f"  {title}:")
        lines.append(f"    Deprecated: {', '.join(part.get('deprecated') or []) or none}")
        lines.append(f"    Supported: {', '.join(part.get('supported') or []) or none}")
    lines += ["", "Run Images:"]
    run_images = d.get("runImages", [])
    if not run_images:
        lines.append(f"  {none}")
    for image in run_images:
        lines.append(f"  {image['image']}")
        lines += [f"  {mirror}    (mirror)" for mirror in image.get("mirrors", [])]
    lines += ["", "Buildpacks:"]
    buildpacks = d.get("buildpacks", [])
    if buildpacks:
        rows = [("ID", "NAME", "VERSION", "HOMEPAGE")] + [
            (bp["id"], bp.get("name") or "-", bp["version"], bp.get("homepage") or "-")
            for bp in buildpacks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)] + [row[3]]
            lines.append("  " + "  ".join(cells).rstrip())
    else:
        lines.append(f"  {none}")
    lines += ["", "Detection Order:"]
    order = d.get("detectionOrder", [])
    if not order:
        lines.append(f"  {none}")
    composites = {
        f"{bp['id']}@{bp['version']}": bp["order"] for bp in buildpacks if bp.get("order")
    }
    lines += _order_tree(composites, order, prefix=" ", depth=depth, seen=())
    return "\n".join(lines)


def _order_tree(
    composites: Mapping[str, list[dict[str, Any]]],
    order: list[dict[str, Any]],
    *,
    prefix: str,
    depth: int,
    seen: tuple[str, ...],
) -> list[str]:
    lines: list[str] = []
    for g, group in enumerate(order):
        last_group = g == len(order) - 1
        lines.append(f"{prefix}{'└' if last_group else '├'} Group #{g + 1}:")
        inner = prefix + ("   " if last_group else "│  ")
        entries = group.get("group", [])
        for e, entry in enumerate(entries):
            last = e == len(entries) - 1
            name = f"{entry['id']}@{entry['version']}" if entry.get("version") else entry["id"]
            optional = "    (optional)" if entry.get("optional") else ""
            lines.append(f"{inner}{'└' if last else '├'} {name}{optional}")
            nested = composites.get(name)
            if nested and depth != 0 and name not in seen:
                lines += _order_tree(
                    composites,
                    nested,
                    prefix=inner + ("   " if last else "│  "),
                    depth=depth - 1,
                    seen=(*seen, name),
                )
    return lines
