"""``cnbsdk detect APP``: run only the detect phase and say, for every group tried and every
buildpack in it, what happened and why; then the chosen group and its build plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cnbsdk.lifecycle.detect import DetectReport, GroupAttempt

OUTPUT_INDENT = "      | "


def verbose_buildpacks(env: tuple[str, ...]) -> tuple[str, ...]:
    """``cnbsdk -v``: buildpacks get ``BP_LOG_LEVEL=DEBUG`` (their debug lines and, when
    they fail, the whole traceback) unless the user set ``BP_LOG_LEVEL`` with ``--env``."""
    context = click.get_current_context(silent=True)
    verbose = context is not None and bool((context.find_root().obj or {}).get("verbose"))
    if not verbose or any(e.split("=", 1)[0] == "BP_LOG_LEVEL" for e in env):
        return env
    return (*env, "BP_LOG_LEVEL=DEBUG")


def common_build_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``cnbsdk detect`` shares with ``cnbsdk build``; each is passed under the
    name of its ``BuildOptions`` field, so a command builds its options with ``**``."""
    options = [
        click.argument("app", type=click.Path(exists=True, path_type=Path)),
        click.option(
            "-b",
            "--buildpack",
            "buildpacks",
            multiple=True,
            metavar="DIR|ID|BUILDPACKAGE",
            help="A buildpack directory (buildpack.toml + bin/), a plugin buildpack's package "
            "or project directory, an installed plugin id, or a buildpackage: a .cnb file, "
            "oci:PATH[:TAG], docker-archive:PATH, docker://HOST/REPO[:TAG] or HOST/REPO[:TAG] "
            "(a registry), NAME:TAG (the local store). Repeatable: together they form the "
            "group, in the order given. Default: project.toml's group.",
        ),
        click.option(
            "-B",
            "--builder",
            metavar="REF",
            help="A builder image (store, oci:, registry): its buildpacks, order, build env, "
            "run images and build image. Default without --buildpack: project.toml's builder, "
            "else the configured default (cnbsdk builder default), else cnbsdk/builder:bookworm, "
            "made on first use from the stack and the installed plugin buildpacks.",
        ),
        click.option(
            "--build-image",
            metavar="REF",
            help="The image buildpacks run in (default: cnbsdk/build:bookworm, created once).",
        ),
        click.option(
            "-e",
            "--env",
            "env",
            multiple=True,
            metavar="NAME=VALUE",
            help="Build-time env for buildpacks, as a <platform>/env file; NAME alone takes "
            "this shell's value. Repeatable; wins over --env-file and project.toml.",
        ),
        click.option(
            "--env-file",
            "env_files",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="A file of NAME=VALUE lines (# comments). Repeatable.",
        ),
        click.option(
            "--binding",
            "bindings",
            multiple=True,
            type=click.Path(exists=True, file_okay=False, path_type=Path),
            metavar="DIR",
            help="A service binding for buildpacks (servicebinding.io: DIR holds a 'type' file "
            "and one file per entry, e.g. an npmrc binding's .npmrc): copied into "
            "<platform>/bindings/<DIR's name>, never into the image. Repeatable.",
        ),
        click.option(
            "-d",
            "--descriptor",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The project descriptor (default: APP/project.toml).",
        ),
        click.option(
            "--network",
            type=click.Choice(["default", "none"]),
            default="default",
            show_default=True,
            help="'none' cuts buildpacks off every network.",
        ),
        click.option(
            "--no-sandbox",
            "sandbox",
            flag_value=False,
            default=True,
            help="Run buildpacks on this host instead of in the build image (a warning is "
            "printed: they see your files and run as you).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def render_report(report: DetectReport, echo: Callable[[str], None]) -> None:
    """Every group tried, every buildpack's verdict with its reason and output."""
    total = len(report.attempts)
    for attempt in report.attempts:
        _render_attempt(attempt, total, echo)
    selected = report.selected
    if selected is None or selected.plan is None:
        return
    echo("Selected group:")
    for element in selected.plan.group:
        echo(f"  {element.id} {element.version}")
    echo("Build plan:")
    if not selected.plan.entries:
        echo("  (empty: no buildpack requires anything)")
    for entry in selected.plan.entries:
        providers = ", ".join(str(p) for p in entry.providers)
        requires = []
        for require in entry.requires:
            meta = json.dumps(require.metadata, sort_keys=True) if require.metadata else ""
            requires.append(f"{require.name} {meta}".strip())
        echo(f"  {entry.name}: provided by {providers}; required as {'; '.join(requires)}")


def _render_attempt(attempt: GroupAttempt, total: int, echo: Callable[[str], None]) -> None:
    state = "passed" if attempt.passed else f"failed: {attempt.reason}"
    echo(f"Group {attempt.number} of {total} tried: {state}")
    for line in attempt.verdicts:
        element = line.element
        optional = " (optional)" if element.optional else ""
        echo(f"  {line.outcome:<7} {element.id} {element.version}{optional}: {line.reason}")
        output = line.verdict.output.rstrip("\n")
        if output:
            for text in output.splitlines():
                echo(f"{OUTPUT_INDENT}{text}")


@click.command("detect")
@common_build_options
def detect(**options: Any) -> None:
    """Run the detect phase on APP (a directory or a .jar/.zip) and explain the outcome."""
    from cnbsdk.lifecycle.creator import BuildInterrupted, BuildOptions, detect_only
    from cnbsdk.lifecycle.detect import DetectionFailed

    try:
        options["env"] = verbose_buildpacks(tuple(options.get("env", ())))
        report = detect_only(BuildOptions(**options), log=click.echo)
    except BuildInterrupted as interrupted:
        click.echo(f"error: {interrupted}", err=True)
        raise SystemExit(interrupted.exit_code) from None
    render_report(report, click.echo)
    if not report.passed:
        click.echo(f"error: {DetectionFailed(report)}", err=True)
        raise SystemExit(report.exit_code)
