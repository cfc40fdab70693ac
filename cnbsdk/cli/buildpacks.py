"""``cnbsdk buildpacks``: the plugin buildpacks installed in this Python environment."""

from __future__ import annotations

import json
from typing import Any

import click

from cnbsdk.buildpack.plugin import BuildpackPlugin, installed_buildpacks
from cnbsdk.spec.target import Target


def target_text(target: Target) -> str:
    """``os/arch[/variant]`` plus distros, ``*`` for a wildcard field."""
    parts = [target.os or "*", target.arch or "*"]
    if target.variant:
        parts.append(target.variant)
    text = "/".join(parts)
    if target.distros:
        distros = ",".join(f"{d.name}@{d.version}" if d.version else d.name for d in target.distros)
        text += f" ({distros})"
    return text


def _row(plugin: BuildpackPlugin) -> dict[str, Any]:
    descriptor = plugin.descriptor
    return {
        "id": str(descriptor.buildpack.id),
        "version": str(descriptor.buildpack.version),
        "api": str(descriptor.api),
        "targets": [target_text(t) for t in descriptor.effective_targets(has_bin_build=True)],
        "distribution": plugin.distribution,
        "entry_point": plugin.entry_point,
        "ref": plugin.ref,
        "descriptor": str(plugin.descriptor_path),
    }


@click.command("buildpacks")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
def buildpacks(as_json: bool) -> None:
    """List the plugin buildpacks installed in this environment (entry-point group cnbsdk)."""
    rows = [_row(plugin) for plugin in installed_buildpacks()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no buildpacks installed (a plugin declares [project.entry-points.cnbsdk])")
        return
    header = ("ID", "VERSION", "API", "TARGETS", "DISTRIBUTION")
    table = [header] + [
        (r["id"], r["version"], r["api"], " ".join(r["targets"]) or "-", r["distribution"] or "-")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]))
