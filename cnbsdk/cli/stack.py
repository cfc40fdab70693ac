"""``cnbsdk stack``: create base images from Debian packages, update them, show their SBOM."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cnbsdk.cli.progress_bar import terminal_progress_with_summary

if TYPE_CHECKING:
    from cnbsdk.stacks.update import StackUpdate


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@click.group("stack")
def stack() -> None:
    """Build and run base images from pinned Debian packages."""


def _image_options(command: Callable[..., None]) -> Callable[..., None]:
    """--build-image, --run-image and --lock, as create and update both take them."""
    for option in reversed(
        (
            click.option("--build-image", metavar="REF", help="Where to write the build image."),
            click.option("--run-image", metavar="REF", help="Where to write the run image."),
            click.option(
                "--lock",
                "lock_file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="The lock file (default: stack.lock beside STACK_FILE).",
            ),
        )
    ):
        command = option(command)
    return command


@stack.command("create")
@click.argument("stack_file", type=click.Path(dir_okay=False, path_type=Path))
@_image_options
@click.option(
    "--offline",
    is_flag=True,
    help="Take every .deb from the download cache; never contact the mirror.",
)
@click.option(
    "--update",
    is_flag=True,
    hidden=True,
    help="Deprecated: same as `cnbsdk stack update`.",
)
def create(
    stack_file: Path,
    build_image: str | None,
    run_image: str | None,
    lock_file: Path | None,
    offline: bool,
    update: bool,
) -> None:
    """Create the stack's build and run images (either or both) from STACK_FILE and its
    lock, exactly (byte-identical images from the same lock); without a lock, from the
    newest versions, writing the lock."""
    from cnbsdk.stacks.create import create_stack

    if not build_image and not run_image:
        raise click.UsageError("give --build-image, --run-image or both")
    if update:
        if offline:
            raise click.UsageError("--update needs the network: drop --offline")
        _update(stack_file, build_image, run_image, lock_file, as_json=False)
        return
    started = time.monotonic()
    result = create_stack(
        stack_file,
        build_image=build_image,
        run_image=run_image,
        lock_file=lock_file,
        offline=offline,
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


@stack.command("update")
@click.argument("stack_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@_image_options
@click.option(
    "--default",
    "default",
    is_flag=True,
    help="Update the default stack (its store images and its lock in $CNBSDK_HOME).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the change report as JSON.")
def update(
    stack_file: Path | None,
    build_image: str | None,
    run_image: str | None,
    lock_file: Path | None,
    default: bool,
    as_json: bool,
) -> None:
    """Patch the OS: resolve the newest package versions and, only if something changed,
    write new images and the new lock. Reports each package old → new, the CVEs its Debian
    changelog names, and the layers and bytes that changed per image."""
    if default:
        if stack_file or build_image or run_image or lock_file:
            raise click.UsageError("--default takes no STACK_FILE, images or --lock")
        from cnbsdk.lifecycle.default_stack import update_default_stack

        report = update_default_stack(
            log=lambda line: click.echo(line, err=True),
            progress=terminal_progress_with_summary,
        )
        _show(report, as_json)
        return
    if stack_file is None:
        raise click.UsageError("give STACK_FILE, or --default for the default stack")
    _update(stack_file, build_image, run_image, lock_file, as_json=as_json)


def _update(
    stack_file: Path,
    build_image: str | None,
    run_image: str | None,
    lock_file: Path | None,
    *,
    as_json: bool,
) -> None:
    from cnbsdk.stacks.update import update_stack

    started = time.monotonic()
    report = update_stack(
        stack_file,
        build_image=build_image,
        run_image=run_image,
        lock_file=lock_file,
        progress=terminal_progress_with_summary,
    )
    _show(report, as_json)
    click.echo(f"done in {time.monotonic() - started:.1f}s", err=True)


def _show(report: StackUpdate, as_json: bool) -> None:
    from cnbsdk.stacks.update import render_update

    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for line in render_update(report):
        click.echo(line)
    if report.changed:
        click.echo(f"lock {report.lock_file} written")


@stack.command("sbom")
@click.argument("ref")
def sbom(ref: str) -> None:
    """Print the OS SBOM (CycloneDX JSON) of a stack image, reading only its SBOM layer."""
    from cnbsdk.stacks.inspect import read_os_sbom

    click.echo(read_os_sbom(ref).decode("utf-8"), nl=False)
