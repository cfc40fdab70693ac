"""``cnbsdk buildpacks``: the plugin buildpacks installed in this environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cnbsdk.cli.main import cli


def test_lists_the_installed_tutorial_buildpack_as_a_table() -> None:
    result = CliRunner().invoke(cli, ["buildpacks"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["ID", "VERSION", "API", "TARGETS", "DISTRIBUTION"]
    hello = next(row for row in rows if row.startswith("examples/hello "))
    assert hello.split() == [
        "examples/hello",
        "0.1.0",
        "0.10",
        "linux/*",
        "hello-buildpack",
        "0.1.0",
    ]


def test_json_gives_every_field_per_buildpack() -> None:
    result = CliRunner().invoke(cli, ["buildpacks", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in json.loads(result.output)}
    hello = rows["examples/hello"]
    assert hello["version"] == "0.1.0" and hello["api"] == "0.10"
    assert hello["targets"] == ["linux/*"]
    assert hello["distribution"] == "hello-buildpack 0.1.0"
    assert hello["entry_point"] == "hello-buildpack" and hello["ref"] == "hello_buildpack"
    assert hello["descriptor"].endswith("hello_buildpack/buildpack.toml")


def test_a_broken_plugin_is_marked_and_the_others_are_still_listed(tmp_path: Path) -> None:
    info = tmp_path / "broken_bp-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-bp\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[cnbsdk]\nbroken = broken_bp_missing_module\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "buildpacks"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert completed.returncode == 1
    rows = {line.split()[0]: line.split() for line in completed.stdout.splitlines()[1:]}
    assert rows["examples/hello"][1] == "0.1.0"
    assert rows["(broken)"][1:] == ["BROKEN", "-", "-", "broken-bp", "0.1"]
    assert completed.stderr.startswith("error: entry point 'broken' (broken_bp_missing_module)")
    assert len(completed.stderr.splitlines()) == 1
