"""The ``cnbsdk`` command group and the one place errors become one-line messages."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from cnbsdk import __version__
from cnbsdk.errors import CnbError, redact


class RedactingFilter(logging.Filter):
    """Every log line passes through ``redact``: credentials never reach the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class CnbGroup(click.Group):
    """A click group that turns our errors into ``error: ...`` lines and exit 1, and
    imports a command's module (``COMMANDS``) only when that command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # `cnbsdk build list|status|logs` are the builds of image records; any other
        # `cnbsdk build ...` is the app build (`./list` builds a directory named list).
        if len(args) > 1 and args[0] == "build" and args[1] in BUILD_RECORD_COMMANDS:
            from cnbsdk.cli.build_records import build_records

            return f"build {args[1]}", build_records.commands[args[1]], args[2:]
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

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
            click.echo(redact(f"error: {where}{error.strerror or error}"), err=True)
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
    for entry in insecure_registries:
        from cnbsdk.oci.registry.address import check_insecure_entry  # only when used: requests

        try:
            check_insecure_entry(entry)
        except CnbError as error:
            raise click.BadParameter(error.message, param_hint="--insecure-registry") from None
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
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    _check_home()


def _check_home() -> None:
    """cnbsdk's home (the image store) and cache (unpacked images, with their setuid files)
    are directories private to the user (0700), made so here; one that is a file or another
    user's is refused with one line, before any command writes below it."""
    from cnbsdk.cache_dir import cache_root
    from cnbsdk.oci.store import cnbsdk_home, private_directory

    home_name = "CNBSDK_HOME" if os.environ.get("CNBSDK_HOME") else "cnbsdk's home"
    cache_name = "CNBSDK_CACHE_DIR" if os.environ.get("CNBSDK_CACHE_DIR") else "cnbsdk's cache"
    private_directory(cnbsdk_home(), name=home_name)
    private_directory(cache_root(), name=cache_name)


# Every command lives in its own module, imported only when it runs (or when --help lists
# them): `cnbsdk run` does not pay for importing the builder. Keep the list sorted.
COMMANDS: dict[str, str] = {
    "attest": "cnbsdk.cli.sign:attest",
    "build": "cnbsdk.cli.build:build",
    "buildpacks": "cnbsdk.cli.buildpacks:buildpacks",
    "builder": "cnbsdk.cli.builder:builder",
    "copy": "cnbsdk.cli.copy:copy",
    "deps": "cnbsdk.cli.deps:deps",
    "detect": "cnbsdk.cli.detect:detect",
    "generate-key-pair": "cnbsdk.cli.sign:generate_key_pair",
    "image": "cnbsdk.cli.image:image",
    "images": "cnbsdk.cli.images:images",
    "inspect": "cnbsdk.cli.inspect:inspect",
    "new": "cnbsdk.cli.new:new",
    "package": "cnbsdk.cli.package:package",
    "rebase": "cnbsdk.cli.rebase:rebase",
    "reconcile": "cnbsdk.cli.reconcile:reconcile",
    "run": "cnbsdk.cli.run:run",
    "sbom": "cnbsdk.cli.sbom:sbom",
    "scan": "cnbsdk.cli.scan:scan",
    "serve": "cnbsdk.cli.serve:serve",
    "sign": "cnbsdk.cli.sign:sign",
    "stack": "cnbsdk.cli.stack:stack",
    "validate": "cnbsdk.cli.validate:validate",
    "verify": "cnbsdk.cli.sign:verify",
    "verify-attestation": "cnbsdk.cli.sign:verify_attestation",
}


# `cnbsdk build WORD ...` with one of these words goes to cli/build_records.py.
BUILD_RECORD_COMMANDS = ("list", "status", "logs")


def main() -> None:
    """Console entry point."""
    cli(prog_name="cnbsdk")


if __name__ == "__main__":
    main()
