"""The analyze step: read the previous app image, if there is one, for its lifecycle label.

Restore takes layer metadata and ``store.toml`` from that label, and export reuses the
image's layers by diffID. An image that does not exist is normal (a first build), so it
gives None; an image whose label cannot be read gives a one-line warning and is treated as
having no metadata, so the build goes on and adds every layer again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.errors import CnbError, ImageError, RegistryError
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_source, read_manifest_and_config
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, OCI, STORE, ImageRef, as_reference
from cnbsdk.oci.store import ImageStore, store_tag
from cnbsdk.oci.transport import ImageSource
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata


@dataclass(frozen=True)
class PreviousImage:
    """The image a rebuild starts from: what it is, and what the lifecycle recorded in it.

    ``source_ref`` is the canonical reference to open it again (``open_source``);
    ``metadata`` is None when the image has no readable ``io.buildpacks.lifecycle.metadata``.
    """

    ref: str
    manifest: Manifest
    config: ImageConfig
    metadata: LifecycleMetadata | None
    source_ref: str

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return self.config.diff_ids

    def open_source(self) -> ImageSource:
        """An ImageSource to read this image's layers (close it when done)."""
        return open_source(self.source_ref)


def _warn_stderr(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def _oci_layout_lacks(layout: OciLayout, ref: ImageRef) -> bool:
    """True when a layout (or the store) plainly does not hold the image ``ref`` names."""
    if not layout.exists():
        return True
    if ref.digest and not ref.tag:
        return not layout.has_blob(ref.digest)
    tag = store_tag(ref) if ref.transport == STORE else ref.tag
    if tag:
        return layout.find(tag) is None
    return not layout.entries()


def image_missing(ref: ImageRef) -> bool:
    """True when the local transports say the image does not exist (no reading involved);
    a registry is asked by reading the manifest (see ``read_previous_image``)."""
    if ref.transport == OCI:
        return _oci_layout_lacks(OciLayout(ref.path), ref)
    if ref.transport == STORE:
        return _oci_layout_lacks(ImageStore().layout, ref)
    if ref.transport == DOCKER_ARCHIVE:
        return not Path(ref.path).is_file()
    return False


def _registry_not_found(error: ImageError) -> bool:
    # The registry source reports a 404 on the manifest (unknown repository or tag) as a
    # plain ImageError "... not found"; other failures (auth, network) are RegistryErrors.
    return (
        type(error) is ImageError
        and not isinstance(error, RegistryError)
        and error.message.endswith("not found")
    )


def read_previous_image(
    ref: str | ImageRef, *, warn: Callable[[str], None] | None = None
) -> PreviousImage | None:
    """The previous image at ``ref``, or None when there is none.

    Errors other than absence (a corrupt layout, a registry refusing credentials) are
    raised: building on as if there were no previous image would silently drop its layers.
    """
    warn = warn or _warn_stderr
    image_ref = as_reference(ref)
    if image_missing(image_ref):
        return None
    try:
        resolved, config = read_manifest_and_config(image_ref)
    except ImageError as error:
        if image_ref.transport == DOCKER and _registry_not_found(error):
            return None
        raise
    label = config.labels.get(LIFECYCLE_METADATA_LABEL)
    metadata: LifecycleMetadata | None = None
    if label is not None:
        try:
            metadata = LifecycleMetadata.from_json(label)
        except CnbError as error:
            warn(f"Ignoring the previous image's metadata ({image_ref}): {error}")
    return PreviousImage(
        ref=str(ref),
        manifest=resolved.manifest,
        config=config,
        metadata=metadata,
        source_ref=str(image_ref),
    )
