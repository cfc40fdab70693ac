"""``cnbsdk build APP --image REF``: detect, restore, build (sandboxed) and export an app
image, in the lifecycle's phases and with the lines a pack user knows."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cnbsdk.cli.detect import common_build_options, render_report


class _Bar:
    """A progress bar on a terminal; nothing when the output is a log (the lines say it all)."""

    def __init__(self, label: str, total: int) -> None:
        self.bar: Any = None
        if sys.stderr.isatty() and total > 0:
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.update(amount)

    def finish(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _progress(label: str, total: int) -> _Bar:
    return _Bar(label, total)


@click.command("build")
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
def build(
    app: Path,
    buildpacks: tuple[str, ...],
    builder: str | None,
    build_image: str | None,
    env: tuple[str, ...],
    env_files: tuple[Path, ...],
    descriptor: Path | None,
    network: str,
    no_sandbox: bool,
    image: str,
    run_image: str | None,
    cache_dir: Path | None,
    clear_cache: bool,
    previous_image: str | None,
    default_process: str | None,
    creation_time: str | None,
    sbom_output_dir: Path | None,
) -> None:
    """Build APP (a directory or a .jar/.zip) into an app image at REF."""
    from cnbsdk.lifecycle.creator import BuildInterrupted, BuildOptions, create
    from cnbsdk.lifecycle.detect import DetectionFailed

    options = BuildOptions(
        app=app,
        image=image,
        buildpacks=buildpacks,
        builder=builder,
        build_image=build_image,
        run_image=run_image,
        env=env,
        env_files=env_files,
        cache_dir=cache_dir,
        clear_cache=clear_cache,
        previous_image=previous_image,
        network=network,
        default_process=default_process,
        creation_time=creation_time,
        sbom_output_dir=sbom_output_dir,
        sandbox=not no_sandbox,
        descriptor=descriptor,
    )
    try:
        result = create(options, log=click.echo, progress=_progress)
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
