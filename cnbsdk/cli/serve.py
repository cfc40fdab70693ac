"""``cnbsdk serve``: keep every image current until stopped."""

from __future__ import annotations

import sys

import click


def _echo(line: str) -> None:
    click.echo(line)
    sys.stdout.flush()  # a service's log is read while it runs


@click.command("serve")
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    help="Seconds between resolving every image's source and builder.",
)
@click.option(
    "--no-poll",
    is_flag=True,
    help="Resolve only new, patched and triggered images (builds on explicit triggers).",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    help="Builds at once (default: one per two cores).",
)
def serve(poll_interval: float, no_poll: bool, jobs: int | None) -> None:
    """Run the reconcile loop: poll, queue builds with their reasons, run them."""
    from cnbsdk.cli.keep_output import open_store
    from cnbsdk.keep.serve import Service

    with open_store() as store:
        service = Service(
            store, poll_interval=poll_interval, poll=not no_poll, jobs=jobs, echo=_echo
        )
        click.echo(
            f"Serving: {len(store.images())} image(s), polling "
            + ("off" if no_poll else f"every {poll_interval:g}s")
            + f", {service.jobs} build(s) at once"
        )
        service.run()
