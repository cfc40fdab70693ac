"""``cnbsdk images``: list the local image store; ``cnbsdk images rm`` removes tags."""

from __future__ import annotations

import json

import click

from cnbsdk.cli.sizes import human_size
from cnbsdk.errors import ImageError
from cnbsdk.oci.reference import STORE, parse_reference
from cnbsdk.oci.store import ImageStore, store_path


@click.group("images", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@click.pass_context
def images(ctx: click.Context, as_json: bool) -> None:
    """List the images in the local store ($CNBSDK_HOME/images)."""
    if ctx.invoked_subcommand is not None:
        return
    listing = ImageStore().list()
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "tag": i.tag,
                        "digest": i.digest,
                        "size": i.size,
                        "created": i.created,
                    }
                    for i in listing
                ],
                indent=2,
            )
        )
        return
    if not listing:
        click.echo(f"No images in {store_path()}")
        return
    rows = [("NAME", "TAG", "DIGEST", "SIZE", "CREATED")]
    rows += [(i.name, i.tag, i.digest[:19], human_size(i.size), i.created) for i in listing]
    widths = [max(len(row[c]) for row in rows) for c in range(4)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row[:4])) + "  " + row[4]
        )


@images.command("rm")
@click.argument("names", nargs=-1, required=True)
def remove(names: tuple[str, ...]) -> None:
    """Remove NAME[:TAG] from the local store; blobs no other tag uses are deleted."""
    store = ImageStore()
    refs = [parse_reference(name) for name in names]
    for name, ref in zip(names, refs, strict=True):
        if ref.transport != STORE:
            raise ImageError(f"{name!r} is not a local store reference (use NAME[:TAG])")
    for ref in refs:
        removed, count, size = store.remove(ref)
        click.echo(
            f"Removed {ref.name_with_tag} ({removed.digest}); "
            f"freed {count} blobs, {human_size(size)}"
        )
