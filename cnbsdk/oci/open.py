"""Opening any image reference as a source or a destination."""

from __future__ import annotations

from cnbsdk.errors import ImageError
from cnbsdk.oci.docker_archive import DockerArchiveDestination, DockerArchiveSource
from cnbsdk.oci.layout import OciLayoutDestination, OciLayoutSource
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, OCI, STORE, ImageRef, as_reference
from cnbsdk.oci.store import ImageStore
from cnbsdk.oci.transport import ImageDestination, ImageSource


def open_source(ref: str | ImageRef) -> ImageSource:
    """An ImageSource for a reference (``oci:``, ``docker-archive:``, a registry or the store)."""
    ref = as_reference(ref)
    if ref.transport == OCI:
        return OciLayoutSource(ref.path, tag=ref.tag)
    if ref.transport == DOCKER_ARCHIVE:
        return DockerArchiveSource(ref.path, ref)
    if ref.transport == STORE:
        return ImageStore().source(ref)
    if ref.transport == DOCKER:
        from cnbsdk.oci.registry import RegistrySource

        return RegistrySource(ref)  # type: ignore[no-any-return]
    raise ImageError(f"unknown transport {ref.transport!r}")


def open_destination(ref: str | ImageRef) -> ImageDestination:
    """An ImageDestination for a reference; ``close()`` without ``commit()`` leaves nothing."""
    ref = as_reference(ref)
    if ref.transport == OCI:
        return OciLayoutDestination(ref.path, tag=ref.tag)
    if ref.transport == DOCKER_ARCHIVE:
        return DockerArchiveDestination(ref.path, ref)
    if ref.transport == STORE:
        return ImageStore().destination(ref)
    if ref.transport == DOCKER:
        if ref.digest:
            raise ImageError(f"cannot push to a digest reference: {ref}")
        from cnbsdk.oci.registry import RegistryDestination

        return RegistryDestination(ref)  # type: ignore[no-any-return]
    raise ImageError(f"unknown transport {ref.transport!r}")
