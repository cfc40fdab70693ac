"""``cnbsdk builder default [--show|REF]``: which builder ``cnbsdk build`` uses when it is
given neither ``--builder`` nor buildpacks (project.toml's builder still comes first)."""

from __future__ import annotations

import click

from cnbsdk.distribution.default_builder import (
    DEFAULT_BUILDER,
    config_path,
    configured_default_builder,
    set_default_builder,
)


@click.group()
def builder() -> None:
    """Builders: the default one."""


@builder.command("default")
@click.argument("reference", metavar="REF", required=False)
@click.option("--show", is_flag=True, help="Print the default builder (the default action).")
@click.option("--unset", is_flag=True, help="Forget the configured one: use the built-in default.")
def default(reference: str | None, show: bool, unset: bool) -> None:
    """Show the default builder, or set it to REF (kept in $CNBSDK_HOME/config.toml)."""
    if sum((bool(reference), show, unset)) > 1:
        raise click.UsageError("give REF, --show or --unset, not several")
    if unset:
        path = set_default_builder(None)
        click.echo(f"Default builder: {DEFAULT_BUILDER} (built in; unset in {path})")
        return
    if reference:
        path = set_default_builder(reference)
        click.echo(f"Default builder set to {reference} (in {path})")
        return
    configured = configured_default_builder()
    if configured:
        click.echo(f"{configured}  (configured in {config_path()})")
    else:
        click.echo(
            f"{DEFAULT_BUILDER}  (built in: made on first use from the stack and the "
            "installed plugin buildpacks)"
        )
