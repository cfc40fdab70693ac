"""``cnbsdk validate``: good files print ``ok``; a bad one prints one ``error:`` line naming the
file and field, and the command exits 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli

FIXTURES = Path(__file__).parents[1] / "spec" / "fixtures" / "platform"
CNBSDK = Path(sys.executable).parent / "cnbsdk"  # the console script of this venv
IMAGES = '[build]\nimage = "localhost:5000/b"\n[[run.images]]\nimage = "localhost:5000/r"\n'
V02 = '[_]\nschema-version = "0.2"\n'

# (case id, file name, content, --kind or None, expected error line after "error: <path>: ")
BAD: list[tuple[str, str, str, str | None, str]] = [
    ("bad TOML", "project.toml", "[_\nschema-version = 0.2\n", None, "invalid TOML"),
    (
        "project without schema-version",
        "project.toml",
        '[_]\nid = "com.example"\n',
        None,
        "_.schema-version: is required",
    ),
    (
        "project include and exclude",
        "project.toml",
        V02 + '[io.buildpacks]\ninclude = ["a"]\nexclude = ["b"]\n',
        None,
        "io.buildpacks: set include or exclude, not both",
    ),
    (
        "project group entry with version and uri",
        "project.toml",
        V02 + '[[io.buildpacks.group]]\nid = "example/a"\nversion = "1.0.0"\nuri = "./a"\n',
        None,
        "io.buildpacks.group[0]: set only one of version, uri or script",
    ),
    (
        "project io.buildpacks in schema 0.1",
        "project.toml",
        '[io.buildpacks]\nbuilder = "localhost:5000/b"\n',
        None,
        'io.buildpacks: needs [_] schema-version = "0.2"',
    ),
    (
        "builder without build image",
        "builder.toml",
        '[[run.images]]\nimage = "localhost:5000/r"\n',
        None,
        "build.image: is required",
    ),
    (
        "builder without run images",
        "builder.toml",
        '[build]\nimage = "localhost:5000/b"\n',
        None,
        "run.images: are required",
    ),
    (
        "builder append env without delim",
        "builder.toml",
        IMAGES + '[[build.env]]\nname = "PATH"\nvalue = "/x"\nsuffix = "append"\n',
        None,
        "build.env[0].delim: is required",
    ),
    (
        "builder lifecycle uri and version",
        "builder.toml",
        IMAGES + '[lifecycle]\nuri = "l.tgz"\nversion = "0.20.5"\n',
        None,
        "lifecycle: set only one of uri or version",
    ),
    (
        "package without buildpack uri",
        "package.toml",
        "[buildpack]\n",
        None,
        "buildpack.uri: is required",
    ),
    (
        "package dependency with uri and image",
        "package.toml",
        '[buildpack]\nuri = "."\n[[dependencies]]\nuri = "../a"\nimage = "localhost:5000/a"\n',
        None,
        "dependencies[0]: set only one of uri or image",
    ),
    (
        "package for an unknown os",
        "package.toml",
        '[buildpack]\nuri = "."\n[platform]\nos = "plan9"\n',
        None,
        "platform.os: expected one of 'linux', 'windows'",
    ),
    (
        "order entry without version",
        "order.toml",
        '[[order]]\n[[order.group]]\nid = "example/a"\n',
        None,
        "order[0].group[0].version: is required",
    ),
    (
        "group member without api",
        "group.toml",
        '[[group]]\nid = "example/a"\nversion = "1.0.0"\n',
        None,
        "group[0].api: is required",
    ),
    (
        "platform plan provider with a bad version",
        "plan.toml",
        '[[entries]]\n[[entries.providers]]\nid = "example/a"\nversion = "latest"\n',
        "platform-plan",
        "entries[0].providers[0].version: invalid version",
    ),
    (
        "run image empty",
        "run.toml",
        '[[images]]\nimage = ""\n',
        None,
        "images[0].image: must not be empty",
    ),
    (
        "stack mirrors without image",
        "stack.toml",
        '[run-image]\nmirrors = ["localhost:5001/r"]\n',
        None,
        "run-image.image: is required",
    ),
    (
        "buildpack of api 0.6",
        "buildpack.toml",
        'api = "0.6"\n[buildpack]\nid = "example/a"\nversion = "1.0.0"\n',
        None,
        "api: unsupported Buildpack API '0.6': cnbsdk runs buildpacks of API 0.7 to 0.12 "
        "(Python plugins: 0.10 to 0.12)",
    ),
    (
        "plan.toml without --kind",
        "plan.toml",
        "[[entries]]\n",
        None,
        "may be a buildpack's build plan or the detector's plan (pass --kind",
    ),
    (
        "a name that tells no kind",
        "settings.toml",
        "a = 1\n",
        None,
        "cannot tell the kind of file from its name (pass --kind",
    ),
]


def _write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_the_platform_fixtures_are_all_valid() -> None:
    files = [p for p in sorted(FIXTURES.rglob("*.toml")) if p.name != "plan.toml"]
    result = CliRunner().invoke(cli, ["validate", *map(str, files)])

    assert result.exit_code == 0, result.output
    # Each of these file names is its kind: project.toml is "project", and so on.
    assert result.stdout.splitlines() == [f"{p}: ok ({p.stem})" for p in files]
    assert result.stderr == ""


def test_plan_toml_is_read_as_the_given_kind() -> None:
    plan = FIXTURES / "lifecycle" / "plan.toml"
    result = CliRunner().invoke(cli, ["validate", "--kind", "platform-plan", str(plan)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{plan}: ok (platform-plan)\n"


def test_a_toml_file_under_a_layers_directory_is_layer_metadata(tmp_path: Path) -> None:
    layer = tmp_path / "layers" / "example_node" / "node.toml"
    layer.parent.mkdir(parents=True)
    layer.write_text('[types]\nlaunch = true\n[metadata]\nversion = "20.1.0"\n')
    result = CliRunner().invoke(cli, ["validate", str(layer)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{layer}: ok (layer)\n"


def test_api_option_reaches_launch_toml(tmp_path: Path) -> None:
    """A string command is Buildpack API < 0.9; from 0.9 on it must be an array."""
    launch = _write(
        tmp_path, "launch.toml", '[[processes]]\ntype = "web"\ncommand = "node server.js"\n'
    )
    old = CliRunner().invoke(cli, ["validate", "--api", "0.8", str(launch)])
    new = CliRunner().invoke(cli, ["validate", str(launch)])

    assert old.exit_code == 0, old.output
    assert new.exit_code == 1
    assert new.stderr.startswith(f"error: {launch}: processes[0].command")


def test_a_buildpack_toml_of_api_0_8_with_stacks_is_valid(tmp_path: Path) -> None:
    """The lifecycle runs Buildpack API 0.7 to 0.12 (bash buildpacks of the 0.8 era too)."""
    path = _write(
        tmp_path,
        "buildpack.toml",
        'api = "0.8"\n[buildpack]\nid = "example/a"\nversion = "1.0.0"\n[[stacks]]\nid = "*"\n',
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (buildpack)\n"


def test_bad_api_option_is_a_usage_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "package.toml", '[buildpack]\nuri = "."\n')
    result = CliRunner().invoke(cli, ["validate", "--api", "zero", str(path)])
    assert result.exit_code == 2
    assert "--api" in result.stderr


@pytest.mark.parametrize("api", ["9.9", "0.6", "0.13"])
def test_an_api_the_lifecycle_does_not_run_is_refused(tmp_path: Path, api: str) -> None:
    launch = _write(tmp_path, "launch.toml", '[[processes]]\ntype = "web"\ncommand = ["x"]\n')
    result = CliRunner().invoke(cli, ["validate", "--api", api, str(launch)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        f"Invalid value for --api: unsupported Buildpack API '{api}': cnbsdk runs "
        "buildpacks of API 0.7 to 0.12"
    ) in " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("name", "content", "kind", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_bad_file_gives_one_error_line_and_exit_1(
    tmp_path: Path, name: str, content: str, kind: str | None, expected: str
) -> None:
    path = _write(tmp_path, name, content)
    args = ["validate", *(["--kind", kind] if kind else []), str(path)]
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: {expected}"), lines[0]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "project.toml"
    result = CliRunner().invoke(cli, ["validate", str(missing)])
    assert result.exit_code == 1
    assert result.stderr == f"error: {missing}: file not found\n"


def test_every_file_is_checked_and_each_bad_one_reported(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first_bad = _write(tmp_path / "a", "package.toml", "[buildpack]\n")
    fine = FIXTURES / "lifecycle" / "run.toml"
    second_bad = _write(tmp_path / "b", "builder.toml", IMAGES + "[lifecycle]\nuri = 1\n")
    result = CliRunner().invoke(cli, ["validate", str(first_bad), str(fine), str(second_bad)])

    assert result.exit_code == 1
    assert result.stdout == f"{fine}: ok (run)\n"
    assert result.stderr.splitlines() == [
        f"error: {first_bad}: buildpack.uri: is required",
        f"error: {second_bad}: lifecycle.uri: expected a string, got int 1",
    ]


SUBPROCESS_CASES = [
    "bad TOML",
    "project include and exclude",
    "builder append env without delim",
    "package dependency with uri and image",
]


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_console_script_prints_one_line_and_no_traceback(tmp_path: Path, case: str) -> None:
    """The real ``.venv/bin/cnbsdk``, as a user runs it."""
    _, name, content, _, expected = next(c for c in BAD if c[0] == case)
    path = _write(tmp_path, name, content)
    completed = subprocess.run(
        [str(CNBSDK), "validate", str(path)], capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert "Traceback" not in completed.stderr
    assert completed.stderr.count("\n") == 1
    assert completed.stderr.startswith(f"error: {path}: {expected}")


def test_console_script_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "project.toml"
    path.write_bytes(b'[_]\nschema-version = "0.2"\nname = "\xff\xfe"\n')
    completed = subprocess.run(
        [str(CNBSDK), "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 1
    assert completed.stderr == f"error: {path}: not UTF-8 text\n"


def test_unknown_keys_are_warnings_naming_the_likely_key(tmp_path: Path) -> None:
    path = tmp_path / "buildpack.toml"
    path.write_text(
        'api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n'
        'sbom-format = ["application/vnd.cyclonedx+json"]\n'
    )
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (buildpack)\n"
    assert result.stderr == (
        f"warning: {path}: buildpack.sbom-format: unknown key (did you mean 'sbom-formats'?)\n"
    )
