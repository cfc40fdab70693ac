"""Copying images between any two transports; only blobs the destination lacks move
(``blobs``), and the manifest's bytes are kept.

Plain tar layers are gzipped on their way to a registry (as skopeo does); the digests of
what was compressed are remembered (``compress.CompressionIndex``), so copying the same
image again uploads and compresses nothing.
"""

from __future__ import annotations

import json

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.blobs import PARALLEL_UPLOADS, CopyReport, Progress, mover, transfer_all
from cnbsdk.oci.compress import (
    CompressionIndex,
    default_index,
    gzip_media_type,
)
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.image import resolve_image
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, ImageRef, as_reference
from cnbsdk.oci.transport import ImageSource


def copy_image(
    src_ref: str | ImageRef,
    dst_ref: str | ImageRef,
    progress: Progress | None = None,
    *,
    compress: bool | None = None,
    index: CompressionIndex | None = None,
) -> CopyReport:
    """Copy the running platform's image from ``src_ref`` to ``dst_ref``.

    ``compress`` gzips plain tar layers on the way; None (the default) means: when the
    destination is a registry, as skopeo does. Layers already compressed are copied as they
    are. ``index`` records what was compressed (default: next to the local store's blobs).

    The manifest's bytes (and so its digest) are kept, except that a Docker schema 2
    manifest becomes OCI when written to an OCI layout or the local store, as skopeo does,
    and that compressed layers get their new descriptors.
    """
    src = as_reference(src_ref)
    dst = as_reference(dst_ref)
    report = CopyReport()
    source = open_source(src)
    try:
        dest = open_destination(dst)
        try:
            resolved = resolve_image(source)
            manifest = resolved.manifest
            raw, kind = resolved.raw_manifest, resolved.media_type
            if (
                mt.is_manifest(kind)
                and kind != mt.OCI_MANIFEST
                and dst.transport
                not in (
                    DOCKER,
                    DOCKER_ARCHIVE,
                )
            ):
                manifest = manifest.as_oci()
                raw, kind = manifest.to_json(), mt.OCI_MANIFEST
            blobs = [
                descriptor
                for descriptor in (*manifest.layers, manifest.config)
                # a foreign layer stays where its urls point
                if not (descriptor.urls and not _fetchable(source, descriptor))
            ]
            wanted = dst.transport == DOCKER if compress is None else compress
            to_gzip = {
                d.digest
                for d in manifest.layers
                if wanted and gzip_media_type(d.media_type) is not None and not d.urls
            }
            if to_gzip and index is None:
                index = default_index()
            move = mover(source, dest, to_gzip, index)
            workers = PARALLEL_UPLOADS if _parallel_safe(src, dst) else 1
            moved = transfer_all(blobs, move, workers, progress, report)
            if to_gzip:
                raw = _with_layers(raw, moved)
                report.compressed = [
                    (d, moved[d.digest]) for d in manifest.layers if d.digest in to_gzip
                ]
            report.manifest_digest = dest.put_manifest(raw, kind)
            report.media_type = kind
            dest.commit()
        finally:
            dest.close()
    finally:
        source.close()
    return report


def _parallel_safe(src: ImageRef, dst: ImageRef) -> bool:
    """Uploads to a registry run in parallel; a docker-archive source reads one tar
    stream, so it stays sequential."""
    return dst.transport == DOCKER and src.transport != DOCKER_ARCHIVE


def _with_layers(raw: bytes, moved: dict[str, Descriptor]) -> bytes:
    """The manifest with each layer's descriptor swapped for the one it got at the
    destination (every other field kept as it was)."""
    data = json.loads(raw)
    for layer in data.get("layers") or []:
        written = moved.get(layer.get("digest"))
        if written is not None:
            layer.update(mediaType=written.media_type, digest=written.digest, size=written.size)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _fetchable(source: ImageSource, descriptor: Descriptor) -> bool:
    try:
        with source.open_blob(descriptor.digest):
            return True
    except ImageError:
        return False


__all__ = ["copy_image"]
