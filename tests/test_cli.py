"""The command group itself: version, help, and how errors reach the user."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cnbsdk import __version__
from cnbsdk.cli.main import cli


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_console_script_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "--help"], capture_output=True, text=True
    )
    assert completed.returncode == 0
    assert "Cloud Native Buildpacks" in completed.stdout
