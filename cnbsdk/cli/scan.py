"""``cnbsdk scan REF --db DIR``: the known vulnerabilities of an image's packages, from an
offline OSV database; ``--diff OLD NEW``: what a rebase or rebuild fixed or introduced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from cnbsdk.supply.osv import SEVERITIES

_LEVELS = [s.lower() for s in SEVERITIES if s != "UNKNOWN"]


@click.command("scan")
@click.argument("references", nargs=-1, required=True, metavar="REF | --diff OLD NEW")
@click.option(
    "--db",
    "database",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The advisory database: a directory or zip of OSV JSON files (osv.dev's export).",
)
@click.option("--diff", "compare", is_flag=True, help="Compare two images: OLD and NEW.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(_LEVELS, case_sensitive=False),
    help="Exit 1 when an advisory of this severity or higher applies (with --diff: one "
    "the change introduced).",
)
def scan(
    references: tuple[str, ...],
    database: Path,
    compare: bool,
    as_json: bool,
    fail_on: str | None,
) -> None:
    """List the advisories that apply to the packages of the image REF: the run image's
    Debian packages and the npm, PyPI and Maven components of its launch SBOMs."""
    from cnbsdk.supply.image_sbom import merged_sbom
    from cnbsdk.supply.osv import AdvisoryDatabase
    from cnbsdk.supply.scan import diff
    from cnbsdk.supply.scan import scan as scan_image

    if len(references) != (2 if compare else 1):
        raise click.UsageError("give one REF, or --diff OLD NEW")
    db = AdvisoryDatabase.load(database)
    reports = [scan_image(ref, merged_sbom(ref), db) for ref in references]
    for report in reports:
        for note in report.notes:
            click.echo(f"note: {report.image}: {note}", err=True)
    if compare:
        change = diff(*reports)
        if as_json:
            data: dict[str, Any] = {
                "old": reports[0].digest,
                "new": reports[1].digest,
                "fixed": [f.as_dict() for f in change.fixed],
                "introduced": [f.as_dict() for f in change.introduced],
            }
            click.echo(json.dumps(data, indent=2))
        else:
            for title, findings in (("Fixed", change.fixed), ("Introduced", change.introduced)):
                click.echo(f"{title}: {len(findings)}")
                _table([f.as_dict() for f in findings])
        failing = [f for f in change.introduced if fail_on and _at_least(f.severity, fail_on)]
    else:
        report = reports[0]
        if as_json:
            data = {
                "image": report.image,
                "digest": report.digest,
                "packagesChecked": report.checked,
                "counts": report.counts(),
                "findings": [f.as_dict() for f in report.findings],
            }
            click.echo(json.dumps(data, indent=2))
        else:
            _table([f.as_dict() for f in report.findings])
            counts = ", ".join(f"{n} {s.lower()}" for s, n in report.counts().items() if n)
            click.echo(
                f"{len(report.findings)} advisories ({counts or 'none'}) in "
                f"{report.checked} packages of {report.digest}"
            )
        failing = report.at_or_above(fail_on.upper()) if fail_on else []
    if failing:
        click.echo(f"scan: {len(failing)} advisories at or above {fail_on} (--fail-on)", err=True)
        raise SystemExit(1)


def _at_least(severity: str, floor: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(floor.upper())


def _table(rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    columns = [
        ("PACKAGE", "package"),
        ("INSTALLED", "installed"),
        ("FIXED IN", "fixedIn"),
        ("ADVISORY", "advisory"),
        ("SEVERITY", "severity"),
        ("BROUGHT BY", "broughtBy"),
    ]
    cells = [[str(row[key]) or "-" for _, key in columns] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (h, _) in enumerate(columns)]
    click.echo("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
