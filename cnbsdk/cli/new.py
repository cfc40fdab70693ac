"""``cnbsdk new``: start a project from a template."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cnbsdk.scaffold.buildpack_project import (
    DEFAULT_API,
    DEFAULT_VERSION,
    new_buildpack_project,
    project_for,
)


@click.group()
def new() -> None:
    """Start a new project."""


@new.command("buildpack")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--id", "buildpack_id", required=True, help="Buildpack id, e.g. example/hello.")
@click.option("--package", help="Python package name (default: from DIRECTORY's name).")
@click.option("--version", default=DEFAULT_VERSION, show_default=True, help="X.Y.Z")
@click.option("--api", default=DEFAULT_API, show_default=True, help="Buildpack API.")
def new_buildpack(
    directory: Path, buildpack_id: str, package: str | None, version: str, api: str
) -> None:
    """Create a plugin buildpack distribution in DIRECTORY (absent or empty): pyproject.toml
    with the cnbsdk entry point, a package with buildpack.toml and detect/build hooks, and
    tests that use the cnbsdk pytest fixtures."""
    project = project_for(directory, buildpack_id, package=package, version=version, api=api)
    files = new_buildpack_project(directory, project)
    root = Path(os.path.abspath(directory))
    click.echo(f"created {project.id} in {directory}:")
    for file in files:
        click.echo(f"  {file.relative_to(root)}")
    click.echo(f"next: pip install -e '{directory}[test]' && pytest {directory}")
