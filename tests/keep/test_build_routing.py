"""``cnbsdk build list|status|logs`` are the builds of image records; every other
``cnbsdk build ...`` is still the app build, exactly as docs/commands.md documents it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cnbsdk.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), prog_name="cnbsdk")
    return result.exit_code, result.output


def test_build_help_is_the_app_build(home: Path) -> None:
    code, out = run("build", "--help")
    assert code == 0 and "Usage: cnbsdk build [OPTIONS] APP" in out and "--image" in out


def test_a_missing_app_is_the_app_builds_own_usage_error(home: Path) -> None:
    code, out = run("build", "/nonexistent/app", "--image", "demo/app")
    assert code == 2 and "'/nonexistent/app' does not exist" in out


def test_a_directory_named_list_builds_as_dot_slash_list(
    home: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list").mkdir()
    code, out = run("build", "./list")  # the app build: it wants --image
    assert code == 2 and "Missing option '-i' / '--image'" in out


def test_build_list_status_logs_are_the_record_commands(home: Path) -> None:
    code, out = run("build", "list")
    assert code == 0 and out.split() == [
        "BUILD",
        "STATUS",
        "BUILT",
        "IMAGE",
        "REASON",
        "IMAGE",
        "RESOURCE",
    ]
    code, out = run("build", "status", "--help")
    assert code == 0 and "Usage: cnbsdk build status [OPTIONS] IMAGE" in out
    code, out = run("build", "logs", "nosuch")
    assert code == 1 and out == "error: no image named 'nosuch' (see 'cnbsdk image list')\n"


def test_the_record_commands_are_documented() -> None:
    from cnbsdk.cli.build_records import build_records

    doc = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    for name, command in build_records.commands.items():
        assert f"build {name}" in doc
        for param in command.params:
            for option in getattr(param, "opts", []):
                if option.startswith("--") and option != "--help":
                    assert option in doc, (name, option)
