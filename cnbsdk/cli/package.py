"""``cnbsdk package``: turn buildpacks into what a platform consumes."""

from __future__ import annotations

from pathlib import Path

import click

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir

# `cnb` (a .cnb file) and `image` (an OCI image) arrive with buildpackages.
BUILDPACK_FORMATS = ("dir",)


@click.group()
def package() -> None:
    """Package buildpacks for a platform."""


@package.command("buildpack")
@click.argument("source", metavar="SRC")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(BUILDPACK_FORMATS),
    default="dir",
    show_default=True,
    help="What to write: `dir` is a buildpack directory the lifecycle runs as is.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the packaged buildpack (must be empty or absent).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it is not empty.")
@click.option(
    "--vendor",
    multiple=True,
    metavar="PACKAGE",
    help="Also copy this pure-Python package into lib/ (repeatable).",
)
def package_buildpack(
    source: str, output_format: str, output: Path, force: bool, vendor: tuple[str, ...]
) -> None:
    """Package SRC: an installed plugin buildpack's id, a plugin package directory
    (buildpack.toml beside __init__.py), a plugin project directory (pyproject.toml) or a
    plain buildpack directory (buildpack.toml and bin/)."""
    packaged = package_buildpack_dir(source, output, force=force, vendor=vendor)
    click.echo(f"packaged {packaged.id} {packaged.version} into {packaged.path}")
    if packaged.vendored:
        click.echo(f"  lib/: {', '.join(packaged.vendored)}")
