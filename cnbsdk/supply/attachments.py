"""Where cosign keeps what it attaches to an image: an OCI image tagged
``sha256-<hex of the image's digest>.<sig|att>`` beside the image (or in the repository
``COSIGN_REPOSITORY`` names), whose layers are the signed payloads with their signatures in
annotations. The same in an OCI layout (a tag of the layout). skopeo and cosign read and
write this layout of things, so an image signed by either verifies with the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.blobs import put_bytes
from cnbsdk.oci.digest import sha256_digest
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.oci.reference import DOCKER, OCI, ImageRef, as_reference, parse_reference
from cnbsdk.supply.keys import SigningError

REPOSITORY_VARIABLE = "COSIGN_REPOSITORY"


@dataclass(frozen=True)
class Layer:
    """One attached payload: its bytes, media type and annotations."""

    data: bytes
    media_type: str
    annotations: Mapping[str, str]

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)


@dataclass(frozen=True)
class Subject:
    """The image something is attached to: its reference and the digest it points at (an
    index's own digest for a multi-platform image, as cosign signs it)."""

    ref: ImageRef
    digest: str

    @property
    def identity(self) -> str:
        """The name a payload claims (``docker-reference``): the repository, without tag."""
        if self.ref.transport == OCI:
            return self.ref.path.rstrip("/").rsplit("/", 1)[-1]
        return self.ref.name


def subject(reference: str) -> Subject:
    """``reference`` and the digest of the manifest (or index) it points at."""
    ref = parse_reference(reference)
    source = open_source(ref)
    try:
        raw, _kind = source.get_manifest()
    finally:
        source.close()
    digest = sha256_digest(raw)
    if ref.digest and ref.digest != digest:
        raise ImageError(f"the registry served a manifest of digest {digest}", file=reference)
    return Subject(ref, digest)


def attachment_ref(
    target: Subject, suffix: str, environ: Mapping[str, str] | None = None
) -> ImageRef:
    """The tag cosign uses: ``sha256-<hex>.<suffix>``, in the image's repository or
    ``COSIGN_REPOSITORY``'s."""
    env = os.environ if environ is None else environ
    tag = target.digest.replace(":", "-") + "." + suffix
    elsewhere = env.get(REPOSITORY_VARIABLE, "").strip()
    if elsewhere:
        other = as_reference(elsewhere)
        if other.transport not in (DOCKER, OCI) or other.tag or other.digest:
            raise ImageError(
                f"{elsewhere!r} must name a registry repository or an OCI layout, without tag",
                field=REPOSITORY_VARIABLE,
            )
        return replace(other, tag=tag, digest="")
    if target.ref.transport not in (DOCKER, OCI):
        raise ImageError(
            "signatures are kept in registries and OCI layouts; copy the image to one first",
            file=str(target.ref),
        )
    return replace(target.ref, tag=tag, digest="")


def read_layers(ref: ImageRef) -> list[tuple[dict[str, Any], bytes]] | None:
    """The layers (descriptor, bytes) of the attachment image at ``ref``; None when there
    is none. A blob that does not match its digest is an error."""
    try:
        source = open_source(ref)
    except ImageError:
        return None
    try:
        try:
            raw, _kind = source.get_manifest()
        except ImageError:
            return None
        manifest = json.loads(raw)
        found = []
        for layer in manifest.get("layers") or []:
            with source.open_blob(str(layer["digest"])) as stream:
                data = stream.read(int(layer["size"]) + 1)
            if sha256_digest(data) != layer["digest"]:
                raise ImageError(
                    f"layer {layer['digest']} does not match its digest", file=str(ref)
                )
            found.append((layer, data))
        return found
    except (ValueError, KeyError, TypeError) as error:
        raise ImageError(f"is not an attachment image: {error}", file=str(ref)) from None
    finally:
        source.close()


def append_layer(ref: ImageRef, layer: Layer) -> str:
    """Add ``layer`` to the attachment image at ``ref`` (made when missing); the same
    payload with the same annotations is not added twice. Returns the manifest digest."""
    existing = read_layers(ref) or []
    layers = [(descriptor, data) for descriptor, data in existing]
    new = {
        "mediaType": layer.media_type,
        "size": len(layer.data),
        "digest": layer.digest,
        "annotations": dict(layer.annotations),
    }
    if not any(d.get("digest") == new["digest"] and d.get("annotations") == new["annotations"]
               for d, _ in layers):  # fmt: skip
        layers.append((new, layer.data))
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d, _ in layers]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [d for d, _ in layers],
        },
        separators=(",", ":"),
    ).encode()
    destination = open_destination(ref)
    try:
        for blob in [config, *(data for _, data in layers)]:
            put_bytes(destination, blob)
        written = destination.put_manifest(manifest, mt.OCI_MANIFEST)
        destination.commit()
    finally:
        destination.close()
    return written


Checked = TypeVar("Checked")


def check_layers(
    target: Subject,
    suffix: str,
    what: str,
    check: Callable[[dict[str, Any], bytes], tuple[str, Checked | None]],
) -> tuple[str, tuple[Checked, ...], tuple[str, ...]]:
    """Each layer of ``target``'s ``suffix`` attachment image through ``check`` (a reason, or
    what it verified): the image read, what passed, and one line per layer that did not.
    No attachment image at all is a one-line error."""
    ref = attachment_ref(target, suffix)
    layers = read_layers(ref)
    if not layers:
        raise SigningError(f"no {what}: {ref} does not exist", file=str(target.ref))
    verified: list[Checked] = []
    rejected: list[str] = []
    for descriptor, data in layers:
        reason, found = check(descriptor, data)
        if found is None:
            rejected.append(f"{str(descriptor.get('digest', '?'))[:19]}: {reason}")
        else:
            verified.append(found)
    return str(ref), tuple(verified), tuple(rejected)
