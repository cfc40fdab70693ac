"""One CycloneDX document for everything an app image holds: the OS packages of its run image
(the stack's SBOM layer) and every buildpack's launch SBOM, each component marked with what
brought it (``cnbsdk:brought-by``: ``run image`` or the buildpack id and layer).

Only the two small SBOM layers are read, never the whole image.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk import __version__
from cnbsdk.errors import ImageError
from cnbsdk.lifecycle.sbom_extract import extract_launch_sboms
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata
from cnbsdk.stacks.inspect import read_os_sbom
from cnbsdk.stacks.sbom import SBOM_LABEL

BROUGHT_BY = "cnbsdk:brought-by"
RUN_IMAGE = "run image"
_TOOL = {"type": "application", "name": "cnbsdk", "version": __version__}
_NAMESPACE = uuid.UUID("6f1d3c0e-2b7a-4c55-9a1e-8a3f0b7c5d21")


@dataclass(frozen=True)
class ImageSbom:
    """The merged document, the image's digest, and what could not be merged (SBOMs in other
    formats than CycloneDX JSON, a run image without an OS SBOM)."""

    document: dict[str, Any]
    digest: str
    notes: tuple[str, ...]

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.document.get("components", []))


def merged_sbom(reference: str) -> ImageSbom:
    """The merged CycloneDX SBOM of the image at ``reference``."""
    resolved, config = read_manifest_and_config(reference)
    notes: list[str] = []
    components: list[dict[str, Any]] = []
    if SBOM_LABEL in config.labels:
        os_document = _json(read_os_sbom(reference), f"{reference} OS SBOM")
        components += _marked(os_document, RUN_IMAGE, "os")
    else:
        notes.append(f"the run image has no {SBOM_LABEL} label: its OS packages are not listed")
    raw = config.labels.get(LIFECYCLE_METADATA_LABEL)
    metadata = LifecycleMetadata.from_json(raw) if raw is not None else None
    if metadata is not None and metadata.sbom:
        names = {bp.key.replace("/", "_"): bp.key for bp in metadata.buildpacks}
        with tempfile.TemporaryDirectory(prefix="cnbsdk-sbom-") as work:
            extracted = extract_launch_sboms(reference, Path(work) / "out")
            for relative in sorted(extracted.files):
                parts = Path(relative).parts  # layers/sbom/launch/<bp>[/<layer>]/sbom.<ext>
                buildpack = names.get(parts[3], parts[3])
                layer = parts[4] if len(parts) == 6 else ""
                brought_by = f"{buildpack} ({layer})" if layer else buildpack
                if not parts[-1].endswith(".cdx.json"):
                    notes.append(f"{brought_by}: {parts[-1]} is not CycloneDX JSON; left out")
                    continue
                path = Path(work) / "out" / relative
                document = _json(path.read_bytes(), f"{reference} {relative}")
                components += _marked(document, brought_by, f"{len(components)}")
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, resolved.digest)}",
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{"type": "application", "name": "cnbsdk", "version": __version__}]
            },
            "component": {
                "type": "container",
                "bom-ref": resolved.digest,
                "name": reference,
                "version": resolved.digest,
            },
        },
        "components": components,
    }
    return ImageSbom(document, resolved.digest, tuple(notes))


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise ImageError(f"is not JSON: {error}", file=what) from None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise ImageError("is not a CycloneDX document", file=what)
    return document


def _marked(document: dict[str, Any], brought_by: str, prefix: str) -> list[dict[str, Any]]:
    """The document's components (nested ones flattened), each with ``cnbsdk:brought-by``
    and a ``bom-ref`` unique in the merged document."""
    found: list[dict[str, Any]] = []
    pending = list(document.get("components") or [])
    while pending:
        component = pending.pop(0)
        if not isinstance(component, dict):
            continue
        pending += component.get("components") or []
        merged = {k: v for k, v in component.items() if k != "components"}
        properties = [p for p in merged.get("properties") or [] if isinstance(p, dict)]
        merged["properties"] = [*properties, {"name": BROUGHT_BY, "value": brought_by}]
        reference = str(merged.get("bom-ref") or merged.get("purl") or merged.get("name", ""))
        merged["bom-ref"] = f"{prefix}:{reference}:{len(found)}"
        found.append(merged)
    return found


def brought_by(component: dict[str, Any]) -> str:
    for prop in component.get("properties") or []:
        if isinstance(prop, dict) and prop.get("name") == BROUGHT_BY:
            return str(prop.get("value", ""))
    return ""
