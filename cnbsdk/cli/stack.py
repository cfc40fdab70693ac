"""``cnbsdk stack``: create build and run base images from Debian packages; show their SBOM."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cnbsdk.cli.progress_bar import terminal_progress_with_summary


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@click.group("stack")
def stack() -> None:
    """Build and run base images from pinned Debian packages."""


@stack.command("create")
@click.argument("stack_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--build-image", metavar="REF", help="Where to write the build image.")
@click.option("--run-image", metavar="REF", help="Where to write the run image.")
@click.option(
    "--lock",
    "lock_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lock file (default: stack.lock beside STACK_FILE).",
)
@click.option("--update", is_flag=True, help="Resolve the newest versions and rewrite the lock.")
def create(
    stack_file: Path,
    build_image: str | None,
    run_image: str | None,
    lock_file: Path | None,
    update: bool,
) -> None:
    """Create the stack's build and run images (either or both) from STACK_FILE."""
    from cnbsdk.stacks.create import create_stack

    if not build_image and not run_image:
        raise click.UsageError("give --build-image, --run-image or both")
    started = time.monotonic()
    result = create_stack(
        stack_file,
        build_image=build_image,
        run_image=run_image,
        lock_file=lock_file,
        update=update,
        progress=terminal_progress_with_summary,
    )
    for image in result.images:
        click.echo(
            f"{image.kind} image {image.reference}@{image.digest}: {len(image.packages)} packages,"
            f" {len(image.layers)} layers, {_mb(image.content_size)} uncompressed,"
            f" {_mb(image.compressed_size)} compressed"
        )
    state = "written" if result.lock_written else "unchanged"
    click.echo(f"lock {result.lock_path} {state} ({len(result.lock.packages)} packages)")
    click.echo(f"done in {time.monotonic() - started:.1f}s", err=True)


@stack.command("sbom")
@click.argument("ref")
def sbom(ref: str) -> None:
    """Print the OS SBOM (CycloneDX JSON) of a stack image, reading only its SBOM layer."""
    from cnbsdk.stacks.inspect import read_os_sbom

    click.echo(read_os_sbom(ref).decode("utf-8"), nl=False)
