"""``cnbsdk inspect REF``: an image's manifest, config, labels, layers and history.

``inspect`` dispatches on what the image is (``VIEWS``, first match wins): an app image
(``io.buildpacks.lifecycle.metadata``) gets the app view of ``cnbsdk.lifecycle.app_inspect``;
a builder gets the builder view; anything else the plain view, where ``describe_image``
gathers the facts as plain data (the ``--json`` output; ``cnbsdk.oci.describe``, shared with
the app view) and ``render_description`` turns them into text (extra plain sections go in
``SECTIONS``). ``--plain`` forces the plain view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from cnbsdk.cli.sizes import human_size
from cnbsdk.distribution.builder_inspect import (
    describe_builder_image,
    is_builder,
    render_builder,
)
from cnbsdk.lifecycle.app_inspect import describe_app_image, is_app_image, render_app_image
from cnbsdk.oci.describe import describe_plain_image
from cnbsdk.oci.image import ResolvedImage
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.oci.reference import parse_reference
from cnbsdk.stacks.inspect import describe_stack_lock, render_stack_lock

# Extra sections: each takes the image config and returns (title, data) or None.
SECTIONS: list[Callable[[ImageConfig], tuple[str, Any] | None]] = []


@dataclass(frozen=True)
class ImageView:
    """A kind of image ``inspect`` shows in its own way: how to recognise it (from its
    config), gather its data (``--json``; from the reference text, the resolved manifest
    and the config) and print that data as text."""

    name: str
    matches: Callable[[ImageConfig], bool]
    describe: Callable[[str, ResolvedImage, ImageConfig], dict[str, Any]]
    render: Callable[[dict[str, Any]], str]


VIEWS: list[ImageView] = [
    ImageView(
        "app",
        is_app_image,
        describe_app_image,
        lambda description: render_app_image(description, size_text=human_size),
    ),
    ImageView("builder", is_builder, describe_builder_image, render_builder),
]


def read_for_inspect(reference: str) -> tuple[str, ResolvedImage, ImageConfig]:
    """The canonical reference text, the resolved manifest and the config of an image."""
    ref = parse_reference(reference)
    resolved, config = read_manifest_and_config(ref)
    return str(ref), resolved, config


def view_for(config: ImageConfig) -> ImageView | None:
    """The first view in ``VIEWS`` that claims the image, or None for the plain view."""
    return next((view for view in VIEWS if view.matches(config)), None)


def describe_image(reference: str) -> dict[str, Any]:
    """Everything the plain view shows about an image, as JSON-ready data."""
    return describe_plain(*read_for_inspect(reference))


def describe_plain(reference: str, resolved: ResolvedImage, config: ImageConfig) -> dict[str, Any]:
    """The plain view's data: manifest, config, labels, layers and history, then the
    ``SECTIONS``."""
    description = describe_plain_image(reference, resolved, config)
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
@click.option(
    "--plain",
    is_flag=True,
    help="Show the plain image view (config, labels, layers, history) even for app images.",
)
def inspect(reference: str, as_json: bool, plain: bool) -> None:
    """Show an image: for an app image its run image, buildpacks, processes and layers;
    otherwise its manifest digest, config, labels, layers and history."""
    name, resolved, config = read_for_inspect(reference)
    view = None if plain else view_for(config)
    text: Callable[[dict[str, Any]], str]
    if view is None:
        description, text = describe_plain(name, resolved, config), render_description
    else:
        description, text = view.describe(name, resolved, config), view.render
    stack_lock = describe_stack_lock(config.labels)
    if stack_lock is not None:
        description["stackLock"] = stack_lock
    if as_json:
        click.echo(json.dumps(description, indent=2))
        return
    shown = {key: value for key, value in description.items() if key != "stackLock"}
    click.echo(text(shown))
    if stack_lock is not None:
        click.echo("\n".join(render_stack_lock(stack_lock)))
