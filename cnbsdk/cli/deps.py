"""``cnbsdk deps``: keep a buildpack's dependency catalog current."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group("deps")
def deps() -> None:
    """A buildpack's [[metadata.dependencies]] catalog."""


@deps.command("update")
@click.argument(
    "buildpack", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option("--dry-run", is_flag=True, help="Say what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option(
    "--apt-source",
    "apt_sources",
    multiple=True,
    metavar="LINE",
    help="An apt source line for debian: sources, instead of this host's apt sources (repeatable).",
)
def update(buildpack: Path, dry_run: bool, as_json: bool, apt_sources: tuple[str, ...]) -> None:
    """Refresh BUILDPACK's catalog from the sources its [[metadata.dependency-constraints]]
    name (npm:, pypi:, debian:): the newest releases of each wanted line, with their SHA256."""
    from cnbsdk.catalog.update import update_catalog

    changes = update_catalog(
        buildpack,
        dry_run=dry_run,
        log=lambda line: click.echo(line, err=True),
        apt_sources=apt_sources,
    )
    if as_json:
        data = [
            {"id": c.id, "added": c.added, "removed": c.removed, "kept": c.kept} for c in changes
        ]
        click.echo(json.dumps(data, indent=2))
        return
    for change in changes:
        click.echo(change.text())
    if not any(change.changed for change in changes):
        click.echo("the catalog is up to date")
    elif dry_run:
        click.echo("--dry-run: buildpack.toml not written")
    else:
        click.echo(f"{buildpack / 'buildpack.toml'} written")
