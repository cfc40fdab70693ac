"""Reading an image from any transport: its manifest (the running platform's, under an
index) and its config, each checked against its digest."""

from __future__ import annotations

from dataclasses import dataclass

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Platform, sha256_digest
from cnbsdk.oci.models import ImageConfig, Index, Manifest, detect_media_type
from cnbsdk.oci.transport import ImageSource


@dataclass(frozen=True)
class ResolvedImage:
    """An image read from a source: its manifest (the platform's one, under an index)."""

    manifest: Manifest
    raw_manifest: bytes
    digest: str
    media_type: str
    index_digest: str = ""


def resolve_image(source: ImageSource, wanted: Platform | None = None) -> ResolvedImage:
    """Read the reference's manifest, following an index to the wanted platform."""
    raw, declared = source.get_manifest()
    kind = detect_media_type(raw, declared)
    index_digest = ""
    if mt.is_index(kind):
        index_digest = sha256_digest(raw)
        chosen = Index.from_json(raw, kind).select(wanted)
        raw, declared = source.get_manifest(chosen.digest)
        kind = detect_media_type(raw, declared or chosen.media_type)
    if not mt.is_manifest(kind):
        raise ImageError(f"unsupported manifest media type {kind!r}")
    return ResolvedImage(
        manifest=Manifest.from_json(raw, kind),
        raw_manifest=raw,
        digest=sha256_digest(raw),
        media_type=kind,
        index_digest=index_digest,
    )


def read_config(source: ImageSource, manifest: Manifest) -> ImageConfig:
    """Fetch and parse the config blob a manifest points at (checking its digest)."""
    with source.open_blob(manifest.config.digest) as stream:
        raw = stream.read(manifest.config.size + 1)
    if sha256_digest(raw) != manifest.config.digest:
        raise ImageError(f"config blob {manifest.config.digest} does not match its digest")
    return ImageConfig.from_json(raw)


def read_image(source: ImageSource) -> tuple[Manifest, ImageConfig]:
    """The manifest and config of the image at ``source`` (for this platform)."""
    resolved = resolve_image(source)
    return resolved.manifest, read_config(source, resolved.manifest)
