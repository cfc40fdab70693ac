"""Moving blobs between any two transports: the one place images' bytes travel (copy, the
image writer, export's reused layers, rebase). Only blobs the destination lacks move; on one
registry a blob is mounted from its repository instead of uploaded; to a registry several
move at once (``transfer_all``); a plain tar layer can be gzipped on its way
(``transfer_compressed``), remembered so it is never compressed twice. An upload that breaks
is resumed by the registry destination (``registry/upload``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from cnbsdk.errors import ImageError
from cnbsdk.oci.compress import CompressedBlob, CompressionIndex, gzip_file, gzip_media_type
from cnbsdk.oci.digest import Descriptor, HashingReader, sha256_digest, verify
from cnbsdk.oci.reference import DOCKER, ImageRef
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
    if layout is None or link is None:
        return False
    return bool(link(layout, descriptor.digest, descriptor.size))


def put_file(dest: ImageDestination, path: Path, descriptor: Descriptor) -> str:
    """Upload a blob from a local file (a layer just tarred) unless the destination has it;
    returns 'skipped' or 'copied'."""
    if dest.has_blob(descriptor.digest):
        return "skipped"
    with open(path, "rb") as stream:
        dest.put_blob(descriptor.digest, descriptor.size, stream)
    return "copied"


def put_bytes(dest: ImageDestination, data: bytes) -> str:
    """Upload a small blob held in memory (a config, a signature) unless the destination has
    it; returns 'skipped' or 'copied'."""
    digest = sha256_digest(data)
    if dest.has_blob(digest):
        return "skipped"
    dest.put_blob(digest, len(data), io.BytesIO(data))
    return "copied"


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


Move = Callable[[Descriptor], tuple[str, Descriptor]]


def mover(
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


def transfer_all(
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
