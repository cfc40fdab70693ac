"""``cnbsdk sbom REF --output-dir DIR``: the launch SBOMs of an app image, as files;
``cnbsdk sbom REF --merged``: everything the image holds, as one CycloneDX document."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cnbsdk.cli.sizes import human_size
from cnbsdk.lifecycle.sbom_extract import extract_launch_sboms


@click.command("sbom")
@click.argument("reference")
@click.option(
    "--output-dir",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Write the SBOMs to DIR/layers/sbom/launch/<buildpack>/[<layer>/]sbom.<format>.json.",
)
@click.option(
    "--merged",
    is_flag=True,
    help="Print one CycloneDX document instead: the run image's OS packages and every "
    "buildpack's launch SBOM, each component marked with what brought it.",
)
def sbom(reference: str, output_dir: Path, merged: bool) -> None:
    """Extract the launch SBOMs of the app image REFERENCE.

    Only the SBOM layers are read (from a registry: one blob besides the manifest and
    config). DIR/launch must not exist yet; it is written completely or not at all.
    """
    if merged:
        from cnbsdk.supply.image_sbom import merged_sbom

        document = merged_sbom(reference)
        for note in document.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(json.dumps(document.document, indent=2, sort_keys=True))
        return
    result = extract_launch_sboms(reference, output_dir)
    for name in result.files:
        click.echo(str(result.output_dir / name))
    click.echo(
        f"Extracted {len(result.files)} SBOM file(s) from layer {result.diff_id} "
        f"({human_size(result.layer.size)}) to {result.output_dir / 'layers' / 'sbom' / 'launch'}"
    )
