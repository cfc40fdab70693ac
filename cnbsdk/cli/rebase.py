"""``cnbsdk rebase REF``: put an app image on a newer run image without rebuilding it."""

from __future__ import annotations

from pathlib import Path

import click

from cnbsdk.cli.sizes import human_size


@click.command("rebase")
@click.argument("image", metavar="REF")
@click.option(
    "--run-image",
    metavar="REF",
    help="The new run image (default: the newest image under the recorded run image name "
    "or a mirror).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Rebase even when the checks fail (rebasable, os/arch/distro, run image name).",
)
@click.option(
    "--publish",
    is_flag=True,
    help="The image is in a registry (accepted for pack users; a registry REF says the same).",
)
@click.option(
    "-o",
    "--output",
    metavar="REF",
    help="Write the rebased image here instead of replacing REF.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write report.toml (tags, digest, manifest size) here, as the lifecycle's rebaser does.",
)
def rebase(
    image: str,
    run_image: str | None,
    force: bool,
    publish: bool,
    output: str | None,
    report_path: Path | None,
) -> None:
    """Replace the run image layers of the app image REF with those of a new run image.

    The app layers stay byte for byte; only the blobs the destination lacks move.
    """
    from cnbsdk.lifecycle.rebase import rebase as rebase_image
    from cnbsdk.lifecycle.report import ImageReport, ReportToml

    result = rebase_image(
        image,
        run_image=run_image,
        force=force,
        publish=publish,
        output=output,
        log=click.echo,
    )
    if report_path is not None:
        ReportToml(
            image=ImageReport(
                tags=(result.image,), digest=result.new_digest, manifest_size=result.manifest_size
            )
        ).write(report_path)
    click.echo(f"Rebased {result.image}: {result.new_digest} (was {result.old_digest})")
    click.echo(
        f"  run image:    {result.run_image} ({result.run_image_reference}), "
        f"top layer {result.top_layer}"
    )
    click.echo(
        f"  base layers:  {result.old_base_layers} replaced by {result.new_base_layers}; "
        f"app layers kept: {result.app_layers_kept}"
    )
    click.echo(
        f"  bytes moved:  {human_size(result.bytes_moved)} in {result.blobs_copied} blob(s) "
        f"(app layers: {human_size(result.app_bytes_moved)}); "
        f"mounted {result.blobs_mounted}, already present {result.blobs_present}"
    )
