"""``cnbsdk validate``: check CNB files against the spec before a build finds the mistake."""

from __future__ import annotations

from pathlib import Path

import click

from cnbsdk.errors import CnbError
from cnbsdk.oci.reference import check_references
from cnbsdk.spec.files import KINDS, kind_for_path
from cnbsdk.spec.ids import ApiVersion, supported_buildpack_api
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.toml_file import read_toml
from cnbsdk.spec.unknown_keys import UnknownKey, unknown_keys


def validate_file(path: Path, kind: str | None, api: ApiVersion) -> str:
    """Parse one file with its model; return the kind it was read as."""
    kind = kind or kind_for_path(path)
    data = read_toml(path)
    if kind == "launch":
        LaunchToml.from_dict(data, file=str(path), api=api)
    else:
        model = KINDS[kind].from_dict(data, file=str(path))
        # What a build would refuse as it reads the file, validate refuses too.
        references = getattr(model, "image_references", None)
        if references is not None:
            check_references(references(), file=str(path))
    return kind


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(sorted(KINDS)),
    help="Read every FILE as this kind (default: from the file name; plan.toml needs it).",
)
@click.option(
    "--api",
    default="0.10",
    show_default=True,
    help="Buildpack API to check launch.toml against (one the lifecycle runs).",
)
@click.pass_context
def validate(ctx: click.Context, files: tuple[Path, ...], kind: str | None, api: str) -> None:
    """Check that each FILE follows the CNB spec (buildpack.toml, project.toml, builder.toml...).

    Prints `FILE: ok (KIND)` for each good file and one `error:` line for each bad one;
    exits 1 if any file is bad.
    """
    try:
        # Only an API the lifecycle runs: checking against one it does not know would
        # bless a file no build here can use.
        api_version = supported_buildpack_api(api)
    except CnbError as error:
        raise click.BadParameter(error.message, param_hint="--api") from None
    verbose = bool(ctx.find_root().obj and ctx.find_root().obj.get("verbose"))
    failed = 0
    for path in files:
        try:
            found = validate_file(path, kind, api_version)
        except (CnbError, OSError) as error:
            if verbose or len(files) == 1:
                raise  # the command group prints it as one `error:` line and exits 1
            failed += 1
            click.echo(f"error: {_one_line(error)}", err=True)
            continue
        click.echo(f"{path}: ok ({found})")
        for unknown in _unknown_keys(path, found):
            click.echo(f"warning: {path}: {unknown}", err=True)
    if failed:
        ctx.exit(1)


def _unknown_keys(path: Path, kind: str) -> list[UnknownKey]:
    """Keys the file's kind does not define (its schema is named like the kind)."""
    return unknown_keys(read_toml(path), kind)


def _one_line(error: Exception) -> str:
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}"
    return str(error)
