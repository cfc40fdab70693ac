"""The ``cnbsdk`` command group and the one place errors become one-line messages."""

from __future__ import annotations

import logging
import os
import sys

import click

from cnbsdk import __version__
from cnbsdk.errors import CnbError


class CnbGroup(click.Group):
    """A click group that turns our errors into ``error: ...`` lines and exit 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CnbError as error:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            click.echo(f"error: {error}", err=True)
            ctx.exit(1)
        except OSError as error:
            if ctx.obj and ctx.obj.get("verbose"):
                raise
            where = f"{error.filename}: " if getattr(error, "filename", None) else ""
            click.echo(f"error: {where}{error.strerror or error}", err=True)
            ctx.exit(1)


@click.group(cls=CnbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnbsdk")
@click.option("-v", "--verbose", is_flag=True, help="Show debug output and full tracebacks.")
@click.option(
    "--insecure-registry",
    "insecure_registries",
    multiple=True,
    metavar="HOST[:PORT]",
    help="Talk plain HTTP to this registry (repeatable; loopback registries always are). "
    "Adds to CNBSDK_INSECURE_REGISTRIES.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, insecure_registries: tuple[str, ...]) -> None:
    """Cloud Native Buildpacks without a Docker daemon."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    if insecure_registries:
        known = os.environ.get("CNBSDK_INSECURE_REGISTRIES", "")
        os.environ["CNBSDK_INSECURE_REGISTRIES"] = ",".join(
            part for part in (known, *insecure_registries) if part
        )
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    _check_home()


def _check_home() -> None:
    """Refuse a home (the image store, caches' config) that is a file: every command that
    touches it would otherwise fail with an errno naming some path below it."""
    from cnbsdk.oci.store import cnbsdk_home

    home = cnbsdk_home()
    if (home.exists() or home.is_symlink()) and not home.is_dir():
        name = "CNBSDK_HOME" if os.environ.get("CNBSDK_HOME") else "cnbsdk's home"
        raise CnbError(f"{name} ({home}) is not a directory", hint="point it at a directory")


# Commands are registered here, one import per module (keep the list sorted).
from cnbsdk.cli.build import build  # noqa: E402

cli.add_command(build)
from cnbsdk.cli.buildpacks import buildpacks  # noqa: E402

cli.add_command(buildpacks)
from cnbsdk.cli.builder import builder  # noqa: E402

cli.add_command(builder)
from cnbsdk.cli.copy import copy  # noqa: E402

cli.add_command(copy)
from cnbsdk.cli.detect import detect  # noqa: E402

cli.add_command(detect)
from cnbsdk.cli.images import images  # noqa: E402

cli.add_command(images)
from cnbsdk.cli.inspect import inspect  # noqa: E402

cli.add_command(inspect)
from cnbsdk.cli.new import new  # noqa: E402

cli.add_command(new)
from cnbsdk.cli.package import package  # noqa: E402

cli.add_command(package)
from cnbsdk.cli.rebase import rebase  # noqa: E402

cli.add_command(rebase)
from cnbsdk.cli.run import run  # noqa: E402

cli.add_command(run)
from cnbsdk.cli.sbom import sbom  # noqa: E402

cli.add_command(sbom)
from cnbsdk.cli.stack import stack  # noqa: E402

cli.add_command(stack)
from cnbsdk.cli.validate import validate  # noqa: E402

cli.add_command(validate)


def main() -> None:
    """Console entry point."""
    cli(prog_name="cnbsdk")


if __name__ == "__main__":
    main()
