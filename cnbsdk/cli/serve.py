"""``cnbsdk serve``: keep every image current until stopped, with the web pages beside."""

from __future__ import annotations

import sys

import click

from cnbsdk.keep.web.listen import DEFAULT_LISTEN


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
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default=DEFAULT_LISTEN,
    show_default=True,
    help="Where the web pages and JSON API listen (port 0: any free port).",
)
@click.option("--no-web", is_flag=True, help="Run the reconcile loop only, without the web pages.")
def serve(poll_interval: float, no_poll: bool, jobs: int | None, listen: str, no_web: bool) -> None:
    """Run the reconcile loop: poll, queue builds with their reasons, run them; serve the
    web pages and JSON API (docs/web.md)."""
    from cnbsdk.cli.keep_output import open_store
    from cnbsdk.keep.serve import Service
    from cnbsdk.keep.web.listen import parse_listen

    host, port = parse_listen(listen)
    with open_store() as store:
        service = Service(
            store, poll_interval=poll_interval, poll=not no_poll, jobs=jobs, echo=_echo
        )
        web = None
        if not no_web:
            from cnbsdk.keep.web.server import WebServer
            from cnbsdk.keep.web.token import serve_token

            web = WebServer(store.path, host, port, serve_token())
            web.start()
        try:
            _echo(
                f"Serving: {len(store.images())} image(s), polling "
                + ("off" if no_poll else f"every {poll_interval:g}s")
                + f", {service.jobs} build(s) at once"
            )
            if web is not None:
                if not web.loopback:
                    _echo(
                        f"Warning: the web pages listen on {listen}, beyond this machine: "
                        "anyone who reaches it can read the images, builds and logs"
                    )
                _echo(f"Web: {web.url} (trigger token: {web.token})")
            service.run()
        finally:
            if web is not None:
                web.stop()
