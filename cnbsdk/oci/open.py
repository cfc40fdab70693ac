"""Opening any image reference as a source or a destination, and reading an image's
manifest and config through one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cnbsdk.errors import ImageError
from cnbsdk.oci.digest import Platform
from cnbsdk.oci.docker_archive import DockerArchiveDestination, DockerArchiveSource
from cnbsdk.oci.image import ResolvedImage, read_config, resolve_image
from cnbsdk.oci.layout import OciLayoutDestination, OciLayoutSource
from cnbsdk.oci.models import ImageConfig
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


@dataclass(frozen=True)
class OpenedImage:
    """An image open for reading: its source (for blobs), resolved manifest and config."""

    source: ImageSource
    resolved: ResolvedImage
    config: ImageConfig


@contextmanager
def open_image(ref: str | ImageRef, wanted: Platform | None = None) -> Iterator[OpenedImage]:
    """Open ``ref``, resolve its manifest (the ``wanted`` platform's under an index, else
    this machine's) and read its config; the source is closed on leaving the block."""
    source = open_source(ref)
    try:
        resolved = resolve_image(source, wanted)
        yield OpenedImage(source, resolved, read_config(source, resolved.manifest))
    finally:
        source.close()


def read_manifest_and_config(
    ref: str | ImageRef, wanted: Platform | None = None
) -> tuple[ResolvedImage, ImageConfig]:
    """The resolved manifest and the config of the image at ``ref`` (no blob is fetched
    but the config)."""
    with open_image(ref, wanted) as image:
        return image.resolved, image.config


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
