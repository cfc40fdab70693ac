"""``cnbsdk package buildpack`` from the command line, above all with bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli

PLUGIN = """from cnbsdk.buildpack import BuildResult, hookimpl

@hookimpl
def build(context):
    return BuildResult()
"""


def package(*args: str) -> object:
    return CliRunner().invoke(cli, ["package", "buildpack", *args])


def plugin_dir(tmp_path: Path, buildpack_toml: str) -> Path:
    package_dir = tmp_path / "bad_bp"
    package_dir.mkdir()
    (package_dir / "__init__.py").write_text(PLUGIN)
    (package_dir / "buildpack.toml").write_text(buildpack_toml)
    return package_dir


def test_packages_an_installed_buildpack_and_says_where(tmp_path: Path) -> None:
    result = package("examples/hello", "--format", "dir", "--output", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert f"packaged examples/hello 0.1.0 into {tmp_path / 'out'}" in result.output
    assert (tmp_path / "out" / "bin" / "build").is_file()


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    result = package("examples/hello", "--format", "zip", "--output", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "Invalid value for '--format': 'zip'" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("buildpack_toml", "expected"),
    [
        ('api = "0.10"\n[buildpack\nid = "x"', "buildpack.toml: invalid TOML"),
        ('api = "0.10"\n[buildpack]\nversion = "1.0.0"\n', "buildpack.id"),
        ('api = "0.10"\n[buildpack]\nid = "config"\nversion = "1.0.0"\n', "reserved"),
        ('api = "7.3"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n', "api"),
        ('api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "1.0"\n', "buildpack.version"),
    ],
    ids=["malformed", "missing-id", "reserved-id", "unknown-api", "bad-version"],
)
def test_a_bad_buildpack_toml_is_one_line_and_leaves_nothing(
    tmp_path: Path, buildpack_toml: str, expected: str
) -> None:
    source = plugin_dir(tmp_path, buildpack_toml)
    result = package(str(source), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert str(source / "buildpack.toml") in lines[0] and expected in lines[0]
    assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_bp"]


def test_an_unknown_plugin_id_is_one_line(tmp_path: Path) -> None:
    result = package("nobody/nothing", "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output.startswith("error: no installed buildpack 'nobody/nothing'")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = package(str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output == f"error: {tmp_path / 'nowhere'}: no such directory\n"


def test_a_non_empty_output_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = package("examples/hello", "--output", str(out))
    assert result.exit_code == 1
    assert result.output == (
        f"error: {out}: output directory is not empty (use --force to replace it)\n"
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    forced = package("examples/hello", "--output", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert not (out / "keep.txt").exists()
