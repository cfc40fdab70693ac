"""``cnbsdk build APP --image REF``: detect, restore, build (sandboxed) and export an app
image, in the lifecycle's phases and with the lines a pack user knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cnbsdk.cli.detect import common_build_options, render_report, verbose_buildpacks
from cnbsdk.cli.progress_bar import terminal_progress


@click.command(
    "build",
    epilog="The builds of image records: cnbsdk build list|status|logs (docs/commands.md).",
)
@common_build_options
@click.option("-i", "--image", required=True, metavar="REF", help="Where to write the app image.")
@click.option(
    "--run-image",
    metavar="REF",
    help="The base of the app image (default: cnbsdk/run:bookworm, created once).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The build cache (default: one per image under the cnbsdk cache directory).",
)
@click.option(
    "--clear-cache",
    is_flag=True,
    help="Restore nothing from the cache; it is replaced once this build succeeds.",
)
@click.option(
    "--previous-image",
    metavar="REF",
    help="The image to reuse layers and metadata from (default: --image itself).",
)
@click.option(
    "-D", "--default-process", metavar="TYPE", help="The process the image starts by default."
)
@click.option(
    "--creation-time",
    metavar="TIME",
    help="The image's created time: RFC 3339, unix seconds or 'now' "
    "(default: SOURCE_DATE_EPOCH, else 1980-01-01T00:00:01Z).",
)
@click.option(
    "--sbom-output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Copy the SBOM files (launch, build, cache) here after the build.",
)
def build(**options: Any) -> None:
    """Build APP (a directory or a .jar/.zip) into an app image at REF."""
    from cnbsdk.lifecycle.creator import BuildInterrupted, BuildOptions, create
    from cnbsdk.lifecycle.detect import DetectionFailed

    options["env"] = verbose_buildpacks(tuple(options.get("env", ())))
    try:
        result = create(BuildOptions(**options), log=click.echo, progress=terminal_progress)
    except DetectionFailed as failed:
        render_report(failed.report, click.echo)
        click.echo(f"error: {failed}", err=True)
        raise SystemExit(failed.exit_code) from None
    except BuildInterrupted as interrupted:
        click.echo(f"error: {interrupted}", err=True)
        raise SystemExit(interrupted.exit_code) from None
    click.echo(f"Image digest: {result.digest}")
    click.echo(f"Timings ({result.total_seconds:.1f}s in all):")
    for timing in result.timings:
        click.echo(f"  {timing.phase.lower():<11} {timing.seconds:6.2f}s")
