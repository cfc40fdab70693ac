"""Writing an image: the one writer every image cnbsdk makes goes through (export, rebase,
stacks, builders, buildpackages). Blobs move with ``blobs`` (only those the destination
lacks); then the config blob and the manifest are written and the destination committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.blobs import put_bytes, put_file, transfer_blob
from cnbsdk.oci.digest import Descriptor, sha256_digest
from cnbsdk.oci.image import read_config
from cnbsdk.oci.layer_tar import Layer
from cnbsdk.oci.models import ImageConfig, Manifest, padded_history
from cnbsdk.oci.transport import ImageDestination, ImageSource

ProgressFn = Callable[[str, Descriptor], None]


def write_image(
    dest: ImageDestination,
    config: ImageConfig,
    layers: Sequence[Layer],
    base: tuple[ImageSource, Manifest] | None = None,
    *,
    annotations: Mapping[str, str] | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Write an image: the base's layers (moved only when missing), ``layers`` on top,
    then the config and manifest; commit the destination and return the manifest digest.

    The config's ``rootfs.diff_ids`` is set here from the base config and the layers.
    """
    base_layers: tuple[Descriptor, ...] = ()
    base_diff_ids: tuple[str, ...] = ()
    if base is not None:
        base_source, base_manifest = base
        base_config = read_config(base_source, base_manifest)
        base_layers = base_manifest.as_oci().layers
        base_diff_ids = base_config.diff_ids
        if len(base_diff_ids) != len(base_layers):
            raise ImageError(
                f"base image has {len(base_layers)} layers but {len(base_diff_ids)} diff_ids"
            )
        for descriptor in base_layers:
            transfer_blob(base_source, dest, descriptor, progress=progress)
    new_layers = []
    for layer in layers:
        descriptor = Descriptor(layer.media_type, layer.digest, layer.size)
        outcome = put_file(dest, layer.path, descriptor)
        if progress:
            progress(outcome, descriptor)
        new_layers.append(descriptor)
    all_layers = base_layers + tuple(new_layers)
    full = replace(
        config,
        diff_ids=base_diff_ids + tuple(layer.diff_id for layer in layers),
    )
    full = replace(full, history=padded_history(full, len(all_layers)))
    return write_manifest(dest, full, all_layers, annotations=annotations).digest


@dataclass(frozen=True)
class WrittenImage:
    """A written image: its manifest digest and size, and its config blob (``config_copied``:
    False when the destination had it)."""

    digest: str
    manifest_size: int
    config: Descriptor
    config_copied: bool


def write_manifest(
    dest: ImageDestination,
    config: ImageConfig,
    layers: Sequence[Descriptor],
    *,
    annotations: Mapping[str, str] | None = None,
) -> WrittenImage:
    """The last step of every write: the config blob (unless the destination has it) and the
    OCI manifest of ``layers`` (whose blobs must be there already); then commit."""
    raw_config = config.to_json()
    descriptor = Descriptor(mt.OCI_CONFIG, sha256_digest(raw_config), len(raw_config))
    copied = put_bytes(dest, raw_config) == "copied"
    manifest = Manifest(
        config=descriptor, layers=tuple(layers), annotations=dict(annotations or {})
    )
    raw_manifest = manifest.to_json()
    digest = dest.put_manifest(raw_manifest, mt.OCI_MANIFEST)
    dest.commit()
    return WrittenImage(digest, len(raw_manifest), descriptor, copied)
