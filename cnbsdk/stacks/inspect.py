"""Reading a stack image's OS SBOM through its label: one small layer blob, not the image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

from cnbsdk.errors import CnbError, StackError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.open import open_image
from cnbsdk.oci.store import cnbsdk_home
from cnbsdk.stacks import DEFINITIONS_DIR
from cnbsdk.stacks.lock import LOCK_LABEL, StackLock
from cnbsdk.stacks.sbom import SBOM_LABEL

_MAX_SBOM_LAYER = 64 << 20


def read_os_sbom(ref: str) -> bytes:
    """The CycloneDX JSON bytes of the image's OS SBOM (the layer named by its label)."""
    with open_image(ref) as image:
        manifest, config = image.resolved.manifest, image.config
        raw_label = config.labels.get(SBOM_LABEL)
        if raw_label is None:
            raise StackError(
                f"has no {SBOM_LABEL} label (not an image made by `cnbsdk stack create`)",
                file=ref,
            )
        try:
            label = json.loads(raw_label)
            diff_id, path = str(label["diffID"]), str(label["path"])
        except (ValueError, KeyError, TypeError):
            raise StackError(
                "is not JSON with diffID and path", file=ref, field=SBOM_LABEL
            ) from None
        if diff_id not in config.diff_ids:
            raise StackError(
                f"names layer {diff_id}, which the image lacks", file=ref, field=SBOM_LABEL
            )
        descriptor = manifest.layers[config.diff_ids.index(diff_id)]
        if descriptor.size > _MAX_SBOM_LAYER:
            raise StackError(
                "names a layer too large to be an SBOM layer", file=ref, field=SBOM_LABEL
            )
        with image.source.open_blob(descriptor.digest) as stream:
            blob = stream.read(descriptor.size + 1)
    compressed = descriptor.media_type in (mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP)
    tar_bytes = gzip.decompress(blob) if compressed else blob
    if "sha256:" + hashlib.sha256(tar_bytes).hexdigest() != diff_id:
        raise StackError(f"layer content does not match {diff_id}", file=ref, field=SBOM_LABEL)
    wanted = path.lstrip("/")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        for member in archive:
            if member.name.lstrip("/") == wanted and member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                return extracted.read()
    raise StackError(f"layer {diff_id} has no {path}", file=ref, field=SBOM_LABEL)


def describe_stack_lock(labels: dict[str, str]) -> dict[str, Any] | None:
    """What an image's ``io.cnbsdk.stack.lock`` label says (stack images and the builders
    made from them): the lock's digest, released time and package count; where that lock
    is kept when it is a default stack's in ``$CNBSDK_HOME``; and whether it is the lock
    cnbsdk ships or how many packages differ from it."""
    raw = labels.get(LOCK_LABEL)
    if raw is None:
        return None
    try:
        label = json.loads(raw)
        digest = str(label["digest"])
    except (ValueError, KeyError, TypeError):
        return {"error": f"unreadable {LOCK_LABEL} label"}
    info: dict[str, Any] = {
        "digest": digest,
        "released": label.get("released"),
        "packages": label.get("packages"),
    }
    for name in sorted(p.name for p in DEFINITIONS_DIR.iterdir() if p.is_dir()):
        shipped_file = DEFINITIONS_DIR / name / "stack.lock"
        kept_file = cnbsdk_home() / "stacks" / name / "stack.lock"
        try:
            shipped = StackLock.read(shipped_file)
            kept = StackLock.read(kept_file) if kept_file.is_file() else None
        except CnbError:
            continue
        if shipped.digest() == digest:
            info["file"] = str(kept_file if kept and kept.digest() == digest else shipped_file)
            info["shippedLock"] = True
            return info
        if kept is not None and kept.digest() == digest:
            from cnbsdk.stacks.update import package_changes

            info["file"] = str(kept_file)
            info["shippedLock"] = False
            info["differsFromShipped"] = [c.text() for c in package_changes(shipped, kept)]
            return info
    return info


def render_stack_lock(info: dict[str, Any]) -> list[str]:
    """``describe_stack_lock``'s data as text lines for ``cnbsdk inspect``."""
    if "error" in info:
        return [f"Stack lock: {info['error']}"]
    lines = [
        f"Stack lock: {info['digest']} ({info.get('packages')} packages,"
        f" released {info.get('released')})"
    ]
    if "file" in info:
        lines.append(f"  file: {info['file']}")
    if info.get("shippedLock"):
        lines.append("  the lock cnbsdk ships")
    elif "differsFromShipped" in info:
        changes = info["differsFromShipped"]
        shown = ", ".join(changes[:5]) + (
            f" and {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        lines.append(f"  newer than the shipped lock in {len(changes)} package(s): {shown}")
    return lines
