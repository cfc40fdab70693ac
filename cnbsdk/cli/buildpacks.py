"""``cnbsdk buildpacks``: the plugin buildpacks installed in this Python environment."""

from __future__ import annotations

import json
from typing import Any

import click

from cnbsdk.buildpack.plugin import BrokenPlugin, BuildpackPlugin, scan_installed
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
    """List the plugin buildpacks installed in this environment (entry-point group cnbsdk).

    One that fails to load is listed as BROKEN with its error on stderr; the exit code is
    then 1, after the others are listed."""
    scanned = scan_installed()
    rows = [_row(plugin) for plugin in scanned.plugins]
    if as_json:
        rows += [_broken_row(broken) for broken in scanned.broken]
        click.echo(json.dumps(rows, indent=2))
        _exit_if_broken(scanned.broken)
        return
    if not rows and not scanned.broken:
        click.echo("no buildpacks installed (a plugin declares [project.entry-points.cnbsdk])")
        return
    header = ("ID", "VERSION", "API", "TARGETS", "DISTRIBUTION")
    table = [header] + [
        (r["id"], r["version"], r["api"], " ".join(r["targets"]) or "-", r["distribution"] or "-")
        for r in rows
    ]
    table += [
        (f"({b.entry_point})", "BROKEN", "-", "-", b.distribution or "-") for b in scanned.broken
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, line[-1]]))
    _exit_if_broken(scanned.broken)


def _broken_row(broken: BrokenPlugin) -> dict[str, Any]:
    return {
        "entry_point": broken.entry_point,
        "ref": broken.value,
        "distribution": broken.distribution,
        "broken": broken.error,
    }


def _exit_if_broken(broken: list[BrokenPlugin]) -> None:
    for plugin in broken:
        click.echo(f"error: {plugin.error}", err=True)
    if broken:
        raise SystemExit(1)
