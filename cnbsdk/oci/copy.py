"""Copying images between any two transports; only blobs the destination lacks move.

Plain tar layers are gzipped on their way to a registry (as skopeo does); the digests of
what was compressed are remembered (``compress.CompressionIndex``), so copying the same
image again uploads and compresses nothing.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.compress import (
    CompressedBlob,
    CompressionIndex,
    default_index,
    gzip_file,
    gzip_media_type,
)
from cnbsdk.oci.digest import Descriptor, HashingReader, verify
from cnbsdk.oci.image import resolve_image
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, ImageRef, as_reference
from cnbsdk.oci.transport import ImageDestination, ImageSource

Progress = Callable[[str, Descriptor], None]

# Blobs pushed to a registry at once: one upload stream rarely fills the link, and skopeo
# also uploads several layers in parallel (bench/push.py measures the effect).
PARALLEL_UPLOADS = 4


def transfer_blob(
    source: ImageSource,
    dest: ImageDestination,
    descriptor: Descriptor,
    *,
    progress: Progress | None = None,
    report: CopyReport | None = None,
) -> str:
    """Move one blob unless the destination has it; returns 'skipped', 'mounted' or 'copied'."""
    digest = descriptor.digest
    if dest.has_blob(digest):
        outcome = "skipped"
    else:
        repository = _same_registry_repository(source, dest)
        if repository and dest.try_mount(digest, repository):
            outcome = "mounted"
        elif _linked(source, dest, descriptor):
            outcome = "copied"  # as a hard link: the destination holds the blob all the same
        else:
            with source.open_blob(digest) as stream:
                reader = HashingReader(stream)
                dest.put_blob(digest, descriptor.size, reader)  # type: ignore[arg-type]
            verify(digest, descriptor.size, reader.digest, reader.size, what=f"blob {digest}")
            outcome = "copied"
    if report is not None:
        report.count(outcome, descriptor)
    if progress is not None:
        progress(outcome, descriptor)
    return outcome


def _linked(source: ImageSource, dest: ImageDestination, descriptor: Descriptor) -> bool:
    """A blob of one OCI layout hard-linked into another on the same filesystem
    (``OciLayout.link_blob``): no bytes are read or written."""
    layout = getattr(source, "layout", None)
    link = getattr(dest, "link_blob", None)
    if not isinstance(layout, OciLayout) or link is None:
        return False
    return bool(link(layout, descriptor.digest, descriptor.size))


def _same_registry_repository(source: ImageSource, dest: ImageDestination) -> str:
    """The source's repository when source and destination are on one registry (a mount
    can then replace the upload), else ''."""
    src_ref = getattr(source, "ref", None)
    dst_ref = getattr(dest, "ref", None)
    if not isinstance(src_ref, ImageRef) or not isinstance(dst_ref, ImageRef):
        return ""
    if src_ref.transport != DOCKER or dst_ref.transport != DOCKER:
        return ""
    return src_ref.repository if src_ref.registry == dst_ref.registry else ""


def transfer_compressed(
    source: ImageSource,
    dest: ImageDestination,
    descriptor: Descriptor,
    index: CompressionIndex,
) -> tuple[str, Descriptor]:
    """Move a plain tar layer as gzip; returns the outcome and the gzip blob's descriptor.

    A layer compressed before (``index``) whose blob the destination has moves nothing and
    is not compressed again. Otherwise the tar is streamed through gzip into a temp file
    under the index (checked against its digest on the way) and uploaded from there.
    """
    media_type = gzip_media_type(descriptor.media_type)
    if media_type is None:
        raise ImageError(f"layer {descriptor.digest} is not a plain tar ({descriptor.media_type})")
    diff_id = descriptor.digest  # a plain tar's digest is its diffID
    known = index.get(diff_id)
    if known is not None and dest.has_blob(known.digest):
        return "skipped", replace(
            descriptor, media_type=media_type, digest=known.digest, size=known.size
        )
    index.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".compress-", dir=index.root) as work:
        with source.open_blob(diff_id) as stream:
            path, result = gzip_file(stream, Path(work))
        verify(diff_id, descriptor.size, result.diff_id, result.tar_size, what=f"layer {diff_id}")
        blob = CompressedBlob(result.digest, result.size)
        index.put(diff_id, blob)
        outcome = "skipped"
        if not dest.has_blob(blob.digest):
            with open(path, "rb") as upload:
                dest.put_blob(blob.digest, blob.size, upload)
            outcome = "copied"
    return outcome, replace(descriptor, media_type=media_type, digest=blob.digest, size=blob.size)


@dataclass
class CopyReport:
    """What a copy did; ``compressed`` pairs each plain tar layer with the gzip blob it
    became at the destination."""

    manifest_digest: str = ""
    media_type: str = ""
    copied: list[Descriptor] = field(default_factory=list)
    skipped: list[Descriptor] = field(default_factory=list)
    mounted: list[Descriptor] = field(default_factory=list)
    compressed: list[tuple[Descriptor, Descriptor]] = field(default_factory=list)

    def count(self, outcome: str, descriptor: Descriptor) -> None:
        getattr(self, outcome).append(descriptor)

    @property
    def bytes_copied(self) -> int:
        return sum(d.size for d in self.copied)

    @property
    def bytes_before_compression(self) -> int:
        return sum(plain.size for plain, _ in self.compressed)

    @property
    def bytes_after_compression(self) -> int:
        return sum(gzipped.size for _, gzipped in self.compressed)


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
    from cnbsdk.oci.open import open_destination, open_source

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
            move = _mover(source, dest, to_gzip, index)
            workers = PARALLEL_UPLOADS if _parallel_safe(src, dst) else 1
            moved = _transfer_all(blobs, move, workers, progress, report)
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


Move = Callable[[Descriptor], tuple[str, Descriptor]]


def _mover(
    source: ImageSource,
    dest: ImageDestination,
    to_gzip: set[str],
    index: CompressionIndex | None,
) -> Move:
    """How each blob moves: gzipped (the digests in ``to_gzip``) or as it is."""

    def move(descriptor: Descriptor) -> tuple[str, Descriptor]:
        if descriptor.digest in to_gzip and index is not None:
            return transfer_compressed(source, dest, descriptor, index)
        return transfer_blob(source, dest, descriptor), descriptor

    return move


def _transfer_all(
    blobs: Sequence[Descriptor],
    move: Move,
    workers: int,
    progress: Progress | None,
    report: CopyReport,
) -> dict[str, Descriptor]:
    """Move blobs, ``workers`` at a time; outcomes are recorded in the calling thread.
    Returns each source digest's descriptor at the destination."""
    moved: dict[str, Descriptor] = {}

    def record(descriptor: Descriptor, outcome: str, written: Descriptor) -> None:
        report.count(outcome, written)
        if progress is not None:
            progress(outcome, written)
        moved[descriptor.digest] = written

    if workers <= 1 or len(blobs) <= 1:
        for descriptor in blobs:
            record(descriptor, *move(descriptor))
        return moved
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(move, d) for d in blobs]
        for descriptor, future in zip(blobs, futures, strict=True):
            record(descriptor, *future.result())
    return moved


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


__all__ = ["CopyReport", "copy_image", "transfer_blob", "transfer_compressed"]
