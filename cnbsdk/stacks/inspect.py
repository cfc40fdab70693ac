"""Reading a stack image's OS SBOM through its label: one small layer blob, not the image."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

from cnbsdk.errors import StackError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.open import open_image
from cnbsdk.stacks.sbom import SBOM_LABEL

_MAX_SBOM_LAYER = 64 << 20


def read_os_sbom(ref: str) -> bytes:
    """The CycloneDX JSON bytes of the image's OS SBOM (the layer named by its label)."""
    with open_image(ref) as image:
        manifest, config = image.resolved.manifest, image.config
        raw_label = config.labels.get(SBOM_LABEL)
        if raw_label is None:
            raise StackError(
                f"has no {SBOM_LABEL} label (not an image made by `cnbsdk stack create`)",
                file=ref,
            )
        try:
            label = json.loads(raw_label)
            diff_id, path = str(label["diffID"]), str(label["path"])
        except (ValueError, KeyError, TypeError):
            raise StackError(
                "is not JSON with diffID and path", file=ref, field=SBOM_LABEL
            ) from None
        if diff_id not in config.diff_ids:
            raise StackError(
                f"names layer {diff_id}, which the image lacks", file=ref, field=SBOM_LABEL
            )
        descriptor = manifest.layers[config.diff_ids.index(diff_id)]
        if descriptor.size > _MAX_SBOM_LAYER:
            raise StackError(
                "names a layer too large to be an SBOM layer", file=ref, field=SBOM_LABEL
            )
        with image.source.open_blob(descriptor.digest) as stream:
            blob = stream.read(descriptor.size + 1)
    compressed = descriptor.media_type in (mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP)
    tar_bytes = gzip.decompress(blob) if compressed else blob
    if "sha256:" + hashlib.sha256(tar_bytes).hexdigest() != diff_id:
        raise StackError(f"layer content does not match {diff_id}", file=ref, field=SBOM_LABEL)
    wanted = path.lstrip("/")
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as archive:
        for member in archive:
            if member.name.lstrip("/") == wanted and member.isfile():
                extracted = archive.extractfile(member)
                assert extracted is not None
                return extracted.read()
    raise StackError(f"layer {diff_id} has no {path}", file=ref, field=SBOM_LABEL)
