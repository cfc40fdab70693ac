"""``cnbsdk reconcile [IMAGE...]``: one pass of the keep-current loop."""

from __future__ import annotations

import click


@click.command("reconcile")
@click.argument("images", nargs=-1)
@click.option("--no-run", is_flag=True, help="Queue the builds that are needed; run none.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the builds' logs.")
def reconcile(images: tuple[str, ...], no_run: bool, quiet: bool) -> None:
    """Resolve every image's source and builder, compute the reasons, run what is needed."""
    from cnbsdk.cli.keep_output import open_store
    from cnbsdk.keep.reconcile import reconcile as one_pass

    with open_store() as store:
        report = one_pass(store, names=images, run=not no_run, echo=None if quiet else click.echo)
    for build in report.recovered:
        click.echo(f"{build.image}: build {build.number - 1} was cut off; queued again")
    for name, error in report.unresolved.items():
        click.echo(f"{name}: cannot resolve: {error}")
    for build in report.queued:
        click.echo(f"{build.image}: build {build.number} queued ({','.join(build.reasons)})")
    for build in report.ran:
        where = build.result.image or build.status_message
        click.echo(f"{build.image}: build {build.number} {build.status.upper()} {where}")
    if not report.queued and not report.ran and not report.unresolved:
        click.echo("Every image is up to date")
    if any(b.status == "failure" for b in report.ran) or report.unresolved:
        raise SystemExit(1)
