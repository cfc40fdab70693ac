"""``cnbsdk package``: turn buildpacks into what a platform consumes."""

from __future__ import annotations

import click

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.distribution.package_toml_source import is_package_toml, package_buildpackage
from cnbsdk.spec.buildpack_toml import Dependency

BUILDPACK_FORMATS = ("dir", "cnb", "image")


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
    help="What to write: `dir` is a buildpack directory the lifecycle runs as is; `cnb` a "
    ".cnb file (a tar of an OCI layout); `image` a buildpackage image at the reference OUTPUT.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    help="Where to write: a directory (dir, must be empty or absent), a file (cnb) or an "
    "image reference (image: oci:PATH[:TAG], a registry or the local store).",
)
@click.option("--force", is_flag=True, help="Replace OUTPUT if it is not empty.")
@click.option(
    "--vendor",
    multiple=True,
    metavar="PACKAGE",
    help="Also copy this pure-Python package into lib/ (repeatable).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Download every [[metadata.dependencies]] entry (checksum verified) into the "
    "package's dependencies/, so builds need no network.",
)
def package_buildpack(
    source: str,
    output_format: str,
    output: str,
    force: bool,
    vendor: tuple[str, ...],
    offline: bool,
) -> None:
    """Package SRC: an installed plugin buildpack's id, a plugin package directory
    (buildpack.toml beside __init__.py), a plugin project directory (pyproject.toml), a
    plain buildpack directory (buildpack.toml and bin/) or, for cnb and image, pack's
    package.toml composing a buildpackage from directories, .cnb files and images."""
    if output_format == "dir" and not offline and not is_package_toml(source):
        packaged = package_buildpack_dir(source, output, force=force, vendor=vendor)
        click.echo(f"packaged {packaged.id} {packaged.version} into {packaged.path}")
        if packaged.vendored:
            click.echo(f"  lib/: {', '.join(packaged.vendored)}")
        return

    def downloading(dependency: Dependency, uri: str) -> None:
        click.echo(f"  downloading {dependency.id} {dependency.version} from {uri}")

    result = package_buildpackage(
        source,
        output,
        format=output_format,
        offline=offline,
        force=force,
        vendor=vendor,
        on_download=downloading,
    )
    info = result.main.buildpack
    click.echo(f"packaged {info.id} {info.version} into {result.output}")
    if len(result.buildpacks) > 1:
        names = ", ".join(f"{d.buildpack.id}@{d.buildpack.version}" for d in result.buildpacks)
        click.echo(f"  buildpacks: {names}")
    if result.digest:
        click.echo(f"  digest: {result.digest}")


@package.command("builder")
@click.argument("config", metavar="BUILDER_TOML", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "-o",
    "--output",
    required=True,
    metavar="REF",
    help="Where to write the builder image: NAME[:TAG] in the local store, oci:PATH[:TAG] "
    "or a registry reference.",
)
def package_builder(config: str, output: str) -> None:
    """Package the builder described by pack's BUILDER_TOML into the image REF: the build
    image plus cnbsdk's lifecycle (or [lifecycle] uri's release tarball), one layer per
    buildpack, order.toml, run.toml, stack.toml and the build env, with pack's labels."""
    from pathlib import Path

    from cnbsdk.distribution.builder import create_builder
    from cnbsdk.lifecycle.from_builder import own_lifecycle

    created = create_builder(
        Path(config), output, lifecycle=own_lifecycle(click.echo), log=click.echo
    )
    click.echo(f"Successfully created builder image '{created.reference}'")
    click.echo(f"  digest: {created.digest}")
