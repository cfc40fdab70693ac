"""Copying images between any two transports; only blobs the destination lacks move."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor, HashingReader, verify
from cnbsdk.oci.image import resolve_image
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


@dataclass
class CopyReport:
    """What a copy did."""

    manifest_digest: str = ""
    media_type: str = ""
    copied: list[Descriptor] = field(default_factory=list)
    skipped: list[Descriptor] = field(default_factory=list)
    mounted: list[Descriptor] = field(default_factory=list)

    def count(self, outcome: str, descriptor: Descriptor) -> None:
        getattr(self, outcome).append(descriptor)

    @property
    def bytes_copied(self) -> int:
        return sum(d.size for d in self.copied)


def copy_image(
    src_ref: str | ImageRef,
    dst_ref: str | ImageRef,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy the running platform's image from ``src_ref`` to ``dst_ref``.

    The manifest's bytes (and so its digest) are kept, except that a Docker schema 2
    manifest becomes OCI when written to an OCI layout or the local store, as skopeo does.
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
            workers = PARALLEL_UPLOADS if _parallel_safe(src, dst) else 1
            _transfer_all(source, dest, blobs, workers, progress, report)
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


def _transfer_all(
    source: ImageSource,
    dest: ImageDestination,
    blobs: Sequence[Descriptor],
    workers: int,
    progress: Progress | None,
    report: CopyReport,
) -> None:
    """Transfer blobs, ``workers`` at a time; outcomes are recorded in the calling thread."""
    if workers <= 1 or len(blobs) <= 1:
        for descriptor in blobs:
            transfer_blob(source, dest, descriptor, progress=progress, report=report)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(transfer_blob, source, dest, d) for d in blobs]
        for descriptor, future in zip(blobs, futures, strict=True):
            outcome = future.result()
            report.count(outcome, descriptor)
            if progress is not None:
                progress(outcome, descriptor)


def _fetchable(source: ImageSource, descriptor: Descriptor) -> bool:
    try:
        with source.open_blob(descriptor.digest):
            return True
    except ImageError:
        return False


__all__ = ["CopyReport", "copy_image", "transfer_blob"]
