"""``cnbsdk copy SRC DST``: copy an image between any two transports."""

from __future__ import annotations

import click

from cnbsdk.cli.sizes import human_size
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.reference import parse_reference


@click.command("copy")
@click.argument("src")
@click.argument("dst")
@click.option(
    "--dest-compress/--no-dest-compress",
    default=None,
    help="Gzip uncompressed layers on the way (default: only when DST is a registry).",
)
def copy(src: str, dst: str, dest_compress: bool | None) -> None:
    """Copy an image from SRC to DST; only blobs DST lacks are moved.

    References: oci:PATH[:TAG], docker-archive:PATH[:NAME:TAG],
    docker://HOST[:PORT]/REPO[:TAG|@DIGEST] (or HOST/REPO:TAG), and NAME[:TAG] for the
    local store. Uncompressed layers (the local store's) are gzipped when pushed to a
    registry, and remembered, so pushing them again compresses and uploads nothing.
    """
    source, dest = parse_reference(src), parse_reference(dst)
    report = copy_image(source, dest, compress=dest_compress)
    click.echo(
        f"Copied {len(report.copied)} blobs ({human_size(report.bytes_copied)}), "
        f"skipped {len(report.skipped)} already present"
        + (f", mounted {len(report.mounted)}" if report.mounted else "")
    )
    if report.compressed:
        click.echo(
            f"Gzipped {len(report.compressed)} uncompressed layer(s) for {dest}: "
            f"{human_size(report.bytes_before_compression)} -> "
            f"{human_size(report.bytes_after_compression)}"
        )
    click.echo(f"{dest} {report.manifest_digest}")
