"""Errors about where cnbsdk cannot write name the path the user gave (never a temporary
sibling of it) and say what is wrong with it, on one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli

HELLO = Path(__file__).parents[2] / "examples" / "hello-buildpack"


def run(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stderr.splitlines()


@pytest.mark.parametrize("form", ["dir", "cnb"])
def test_package_output_that_cannot_be_created_is_named(form: str):
    assert run("package", "buildpack", str(HELLO), "--format", form, "--output", "/proc/foo") == (
        1,
        ["error: /proc/foo: cannot create it: No such file or directory"],
    )


def test_package_output_below_a_file_names_the_file(tmp_path: Path):
    (tmp_path / "file").write_text("")
    output = tmp_path / "file" / "bp"
    code, lines = run("package", "buildpack", str(HELLO), "--output", str(output))
    assert (code, lines) == (
        1,
        [f"error: {output}: cannot create it: {tmp_path / 'file'} is not a directory"],
    )


def test_new_buildpack_in_a_directory_that_cannot_be_created_is_named():
    assert run("new", "buildpack", "/proc/xx", "--id", "example/xx") == (
        1,
        ["error: /proc/xx: cannot create it: No such file or directory"],
    )
    assert not list(Path("/proc").glob(".xx.*"))


def test_a_home_that_is_a_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    home.write_text("not a directory")
    monkeypatch.setenv("CNBSDK_HOME", str(home))
    assert run("images") == (
        1,
        [f"error: CNBSDK_HOME ({home}) is not a directory (point it at a directory)"],
    )
    assert home.read_text() == "not a directory"
