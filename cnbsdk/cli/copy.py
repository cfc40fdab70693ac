"""``cnbsdk copy SRC DST``: copy an image between any two transports."""

from __future__ import annotations

import click

from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.reference import parse_reference


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


@click.command("copy")
@click.argument("src")
@click.argument("dst")
def copy(src: str, dst: str) -> None:
    """Copy an image from SRC to DST; only blobs DST lacks are moved.

    References: oci:PATH[:TAG], docker-archive:PATH[:NAME:TAG],
    docker://HOST[:PORT]/REPO[:TAG|@DIGEST] (or HOST/REPO:TAG), and NAME[:TAG] for the
    local store.
    """
    source, dest = parse_reference(src), parse_reference(dst)
    report = copy_image(source, dest)
    click.echo(
        f"Copied {len(report.copied)} blobs ({_human(report.bytes_copied)}), "
        f"skipped {len(report.skipped)} already present"
        + (f", mounted {len(report.mounted)}" if report.mounted else "")
    )
    click.echo(f"{dest} {report.manifest_digest}")
