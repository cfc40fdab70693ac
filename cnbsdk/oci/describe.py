"""The plain facts of an image as JSON-ready data, for the views of ``cnbsdk inspect``.

``image_facts`` is the header every view starts with (the app view adds its own sections
after it); ``describe_plain_image`` is the whole plain view: the facts, then labels, the
config blob, the layers and the history. Turning these into text is the CLI's job.
"""

from __future__ import annotations

from typing import Any

from cnbsdk.oci.image import ResolvedImage
from cnbsdk.oci.models import ImageConfig


def image_facts(reference: str, resolved: ResolvedImage, config: ImageConfig) -> dict[str, Any]:
    """Reference, manifest digest and media type, platform, created, user, entrypoint, cmd,
    working directory and env, under the keys of the ``--json`` documents."""
    return {
        "reference": reference,
        "digest": resolved.digest,
        "mediaType": resolved.media_type,
        "platform": str(config.platform),
        "created": config.created,
        "user": config.user,
        "entrypoint": list(config.entrypoint) if config.entrypoint is not None else None,
        "cmd": list(config.cmd) if config.cmd is not None else None,
        "workingDir": config.working_dir,
        "env": list(config.env),
    }


def describe_plain_image(
    reference: str, resolved: ResolvedImage, config: ImageConfig
) -> dict[str, Any]:
    """``image_facts`` plus labels, the config blob, the layers (with their diffIDs) and the
    history; ``indexDigest`` last when the reference named an index."""
    manifest = resolved.manifest
    diff_ids = list(config.diff_ids) + [""] * (len(manifest.layers) - len(config.diff_ids))
    description = image_facts(reference, resolved, config)
    description.update(
        {
            "labels": dict(sorted(config.labels.items())),
            "config": {"digest": manifest.config.digest, "size": manifest.config.size},
            "layers": [
                {
                    "digest": layer.digest,
                    "size": layer.size,
                    "diffID": diff_id,
                    "mediaType": layer.media_type,
                }
                for layer, diff_id in zip(manifest.layers, diff_ids, strict=False)
            ],
            "history": [h.to_json() for h in config.history],
        }
    )
    return with_index_digest(description, resolved)


def with_index_digest(description: dict[str, Any], resolved: ResolvedImage) -> dict[str, Any]:
    """``description`` with ``indexDigest`` added (last) when the image came from an index."""
    if resolved.index_digest:
        description["indexDigest"] = resolved.index_digest
    return description
