"""``cnbsdk inspect REF``: an image's manifest, config, labels, layers and history.

``describe_image`` gathers the facts as plain data (the ``--json`` output) and
``render_description`` turns them into text; later commands and issues add sections for
app images and builders through ``SECTIONS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from cnbsdk.cli.sizes import human_size
from cnbsdk.oci.image import ImageConfig, read_config, resolve_image
from cnbsdk.oci.open import open_source
from cnbsdk.oci.reference import parse_reference

# Extra sections: each takes the image config and returns (title, data) or None.
SECTIONS: list[Callable[[ImageConfig], tuple[str, Any] | None]] = []


def describe_image(reference: str) -> dict[str, Any]:
    """Everything ``inspect`` shows about an image, as JSON-ready data."""
    ref = parse_reference(reference)
    source = open_source(ref)
    try:
        resolved = resolve_image(source)
        config = read_config(source, resolved.manifest)
    finally:
        source.close()
    manifest = resolved.manifest
    diff_ids = list(config.diff_ids) + [""] * (len(manifest.layers) - len(config.diff_ids))
    description: dict[str, Any] = {
        "reference": str(ref),
        "digest": resolved.digest,
        "mediaType": resolved.media_type,
        "platform": str(config.platform),
        "created": config.created,
        "user": config.user,
        "entrypoint": list(config.entrypoint) if config.entrypoint is not None else None,
        "cmd": list(config.cmd) if config.cmd is not None else None,
        "workingDir": config.working_dir,
        "env": list(config.env),
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
    if resolved.index_digest:
        description["indexDigest"] = resolved.index_digest
    for section in SECTIONS:
        extra = section(config)
        if extra is not None:
            description[extra[0]] = extra[1]
    return description


def render_description(d: dict[str, Any]) -> str:
    """The human-readable form of ``describe_image``'s data."""
    lines = [
        f"Reference:   {d['reference']}",
        f"Digest:      {d['digest']}",
        f"Media type:  {d['mediaType']}",
    ]
    if d.get("indexDigest"):
        lines.append(f"Index:       {d['indexDigest']}")
    lines += [
        f"Platform:    {d['platform']}",
        f"Created:     {d['created'] or '-'}",
        f"User:        {d['user'] or '-'}",
        f"Entrypoint:  {json.dumps(d['entrypoint']) if d['entrypoint'] is not None else '-'}",
        f"Cmd:         {json.dumps(d['cmd']) if d['cmd'] is not None else '-'}",
        f"Working dir: {d['workingDir'] or '-'}",
        "Env:" + ("" if d["env"] else " -"),
        *(f"  {item}" for item in d["env"]),
        "Labels:" + ("" if d["labels"] else " -"),
        *(f"  {key}={_short(value)}" for key, value in d["labels"].items()),
        f"Layers ({len(d['layers'])}):",
    ]
    for layer in d["layers"]:
        lines.append(
            f"  {layer['digest']}  {human_size(layer['size']):>10}  diffID {layer['diffID']}"
        )
    lines.append("History:" + ("" if d["history"] else " -"))
    for entry in d["history"]:
        marker = " (empty)" if entry.get("empty_layer") else ""
        lines.append(f"  {entry.get('created', '-')}  {entry.get('created_by', '')}{marker}")
    known = {
        "reference", "digest", "mediaType", "indexDigest", "platform", "created", "user",
        "entrypoint", "cmd", "workingDir", "env", "labels", "config", "layers", "history",
    }  # fmt: skip
    for key, value in d.items():
        if key not in known:
            lines.append(f"{key}:")
            lines += [f"  {line}" for line in json.dumps(value, indent=2).splitlines()]
    return "\n".join(lines)


def _short(value: str, limit: int = 120) -> str:
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


@click.command("inspect")
@click.argument("reference")
@click.option("--json", "as_json", is_flag=True, help="Print the data as JSON.")
def inspect(reference: str, as_json: bool) -> None:
    """Show an image's manifest digest, config, labels, layers and history."""
    description = describe_image(reference)
    if as_json:
        click.echo(json.dumps(description, indent=2))
    else:
        click.echo(render_description(description))
