"""The one interface every image location implements: OCI layout, docker-archive,
the local store and a registry all read and write images through it.

Blobs are addressed by digest (``"sha256:<hex>"``) and always streamed: nothing here
holds a layer in memory. ``copy_image`` (in ``copy.py``) moves only the blobs the
destination lacks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import BinaryIO, Protocol


class ImageSource(Protocol):
    """Somewhere an image can be read from."""

    def get_manifest(self, digest: str | None = None) -> tuple[bytes, str]:
        """Raw manifest bytes and media type: the reference's own when ``digest`` is None
        (which may be an index or manifest list), else the manifest with that digest."""
        ...

    def open_blob(self, digest: str) -> AbstractContextManager[BinaryIO]:
        """Open a blob for streaming reads; raises ImageError if it is missing."""
        ...

    def close(self) -> None:
        """Release connections or files."""
        ...


class ImageDestination(Protocol):
    """Somewhere an image can be written to."""

    def has_blob(self, digest: str) -> bool:
        """True when the blob is already there (for a registry: a HEAD request)."""
        ...

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        """Store a blob, streaming from ``stream``; verify its digest and size."""
        ...

    def try_mount(self, digest: str, source_repository: str) -> bool:
        """Registries only: cross-repository mount; others return False."""
        ...

    def put_manifest(self, raw: bytes, media_type: str) -> str:
        """Store a manifest (or index) and point the reference's tag at it; return its digest."""
        ...

    def commit(self) -> None:
        """Make everything written visible (archives are written out here)."""
        ...

    def close(self) -> None:
        """Release resources; without ``commit`` nothing half-written may remain visible."""
        ...


def iter_chunks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """Yield a stream's content in chunks of at most ``size`` bytes."""
    while chunk := stream.read(size):
        yield chunk
