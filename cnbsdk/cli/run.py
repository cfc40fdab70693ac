"""``cnbsdk run REF [--process TYPE] [-e K=V] [--env-file F] [-- ARGS]``: run an image without
a daemon, under bubblewrap (``cnbsdk.lifecycle.run``)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cnbsdk.lifecycle.run import run_env, run_image


@click.command(
    "run",
    context_settings={"ignore_unknown_options": False, "allow_interspersed_args": True},
)
@click.argument("ref")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--process",
    "process",
    metavar="TYPE",
    help="Start this process type (/cnb/process/TYPE) instead of the image's entrypoint.",
)
@click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set a variable (repeatable); a bare NAME takes this environment's value.",
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read NAME=VALUE lines from a file (repeatable; -e wins).",
)
@click.pass_context
def run(
    ctx: click.Context,
    ref: str,
    args: tuple[str, ...],
    process: str | None,
    env: tuple[str, ...],
    env_files: tuple[Path, ...],
) -> None:
    """Run the image REF (pulled and unpacked once per digest) in a sandbox sharing this
    host's network; exits with the process's exit code.

    ARGS after -- replace the image's Cmd; with a buildpacks app image they go to the
    launcher, which replaces the process's default args. Ctrl-C and SIGTERM are passed to
    the process.
    """
    environment = run_env(env, env_files, os.environ)
    code = run_image(ref, process=process, env=environment, args=args)
    ctx.exit(code)
