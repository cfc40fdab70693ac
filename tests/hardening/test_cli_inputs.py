"""Bad command-line options and environment (issue #11 classes 1-3, 5): one line, a non-zero
exit, no traceback, nothing written. Most run in this process; ``test_through_the_executable``
runs a representative few through the installed ``cnbsdk`` as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.errors import CnbError
from cnbsdk.lifecycle.project import parse_env_assignment, read_env_file
from tests.hardening.conftest import assert_one_line_error, listing, run_cli

BAD_CREATION_TIMES = [
    "100000000000000000000",
    "9" * 5000,
    "99999999999999",
    "253402300800",
    "\u00b2",
    "\u0661\u0662",
    "soon",
    "2024-13-01T00:00:00Z",
    "2024-01-01T25:00:00Z",
    "-1",
    "1e20",
    "0x10",
    "",
]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    directory = tmp_path / "app"
    directory.mkdir()
    (directory / "index.txt").write_text("hello\n")
    return directory


@pytest.mark.parametrize("value", BAD_CREATION_TIMES, ids=lambda v: repr(v)[:20])
def test_creation_times_that_are_no_time_are_refused_before_anything_runs(
    tmp_path: Path, app: Path, value: str
) -> None:
    out = tmp_path / "out"
    result = run_cli("build", str(app), "-i", f"oci:{out}", "--creation-time", value)
    assert_one_line_error(result, contains="creation-time")
    assert not out.exists()


@pytest.mark.parametrize("value", ["9" * 5000, "100000000000000000000", "x", "-5", "1.5"])
def test_source_date_epoch_out_of_range_is_refused(tmp_path: Path, app: Path, value: str) -> None:
    out = tmp_path / "out"
    result = run_cli("build", str(app), "-i", f"oci:{out}", env={"SOURCE_DATE_EPOCH": value})
    assert_one_line_error(result, contains="SOURCE_DATE_EPOCH")
    assert not out.exists()


BAD_INSECURE = [
    "bad host",
    "",
    " ",
    "a/b/c",
    "http://",
    "[::1",
    "host:123456",
    "-x",
    "a..b",
    "host:port",
    "10.0.0.0/99",
    "ex\u202eample",
]


@pytest.mark.parametrize("entry", BAD_INSECURE, ids=repr)
def test_insecure_registry_entries_that_are_no_host_are_refused(tmp_path: Path, entry: str) -> None:
    result = run_cli("--insecure-registry", entry, "images")
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, contains="--insecure-registry")


@pytest.mark.parametrize("entry", ["bad host", "a/b/c", "-x"])
def test_insecure_registries_from_the_environment_are_checked(entry: str) -> None:
    result = run_cli(
        "inspect",
        "example.test:5000/app/image",
        env={"CNBSDK_INSECURE_REGISTRIES": f"ok.test,{entry}"},
    )
    assert_one_line_error(result, contains="CNBSDK_INSECURE_REGISTRIES")


@pytest.mark.parametrize(
    "variable",
    ["CNBSDK_REGISTRY_CONNECT_TIMEOUT", "CNBSDK_REGISTRY_READ_TIMEOUT", "CNBSDK_REGISTRY_DEADLINE"],
)
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "abc", "1e999", "86401", "9" * 5000])
def test_registry_time_limits_must_be_sane_seconds(variable: str, value: str) -> None:
    result = run_cli("inspect", "127.0.0.1:9/app/image", env={variable: value})
    assert_one_line_error(result, contains=variable)


@pytest.mark.parametrize("value", ["0", "-3", "many", "9" * 5000, "\u00b2", "1000"])
def test_registry_retries_must_be_a_count(value: str) -> None:
    result = run_cli("inspect", "127.0.0.1:9/app/image", env={"CNBSDK_REGISTRY_RETRIES": value})
    assert_one_line_error(result, contains="CNBSDK_REGISTRY_RETRIES")


@pytest.mark.parametrize(
    "value", ["{", "[]", '{"127.0.0.1:9": 5}', '{"127.0.0.1:9": "nospace"}', "[" * 5000]
)
def test_cnb_registry_auth_that_is_not_auth_is_refused(value: str) -> None:
    result = run_cli("inspect", "127.0.0.1:9/app/image", env={"CNB_REGISTRY_AUTH": value})
    assert_one_line_error(result, contains="CNB_REGISTRY_AUTH")


BAD_IMAGE_REFS = [
    "NOT A REF",
    "docker://:::",
    "UPPER/case",
    "a" * 300,
    "x@sha256:short",
    "https://example.test/x",
    "dir:/tmp/x",
    "",
]


@pytest.mark.parametrize("ref", BAD_IMAGE_REFS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("command", ["inspect", "sbom", "run"])
def test_image_references_on_the_command_line_are_refused(command: str, ref: str) -> None:
    args = [command, ref] if command != "sbom" else ["sbom", "download", ref]
    result = run_cli(*args)
    assert result.exit_code != 0
    if result.exit_code == 1:
        assert_one_line_error(result)


@pytest.mark.parametrize("bp_id", ["..", ".", "/etc", "a//b", "x" * 300, "a b", ""], ids=repr)
def test_new_buildpack_refuses_ids_that_are_not_path_safe(tmp_path: Path, bp_id: str) -> None:
    target = tmp_path / "bp"
    result = run_cli("new", "buildpack", str(target), "--id", bp_id)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert not target.exists() or listing(target) == set()


BAD_ASSIGNMENTS = [
    "=value",
    "A\u202e=x",
    "../x=1",
    "A\0B=1",
    "a/b=1",
    "A B=1",
    "CNB_X=1",
    "x" * 300 + "=1",
    ".=1",
]


@pytest.mark.parametrize("text", BAD_ASSIGNMENTS, ids=lambda v: repr(v)[:20])
def test_env_assignments_of_names_that_are_no_names_are_refused(text: str) -> None:
    with pytest.raises(CnbError) as raised:
        parse_env_assignment(text, origin="--env", environ={})
    assert "\n" not in str(raised.value)


def test_an_env_file_with_a_bad_name_names_its_line(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("GOOD=1\nA\u202eB=2\n", encoding="utf-8")
    with pytest.raises(CnbError, match="line 2"):
        read_env_file(env_file, {})


def test_build_refuses_a_bad_env_name_on_the_command_line(tmp_path: Path, app: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("build", str(app), "-i", f"oci:{out}", "--env", "A=B=C", "--env", "../x=1")
    assert_one_line_error(result)
    assert not out.exists()


# -- the real executable ---------------------------------------------------------------------

CNBSDK = str(Path(sys.executable).with_name("cnbsdk"))


def _through_cnbsdk(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    environ = {
        **os.environ,
        "CNBSDK_HOME": str(tmp_path / "home"),
        "CNBSDK_CACHE_DIR": str(tmp_path / "cache"),
        **(env or {}),
    }
    done = subprocess.run(
        [CNBSDK, *args], capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_through_the_executable(tmp_path: Path, app: Path) -> None:
    deep = tmp_path / "buildpack.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested" in _through_cnbsdk(tmp_path, "validate", str(deep))
    long_int = tmp_path / "project.toml"
    long_int.write_text("x = " + "9" * 5000 + "\n")
    assert "digits" in _through_cnbsdk(tmp_path, "validate", str(long_int))
    bad_id = tmp_path / "bp" / "buildpack.toml"
    bad_id.parent.mkdir()
    bad_id.write_text('api = "0.10"\n[buildpack]\nid = ".."\nversion = "1.0.0"\n')
    assert "buildpack.id" in _through_cnbsdk(tmp_path, "validate", str(bad_id))
    line = _through_cnbsdk(
        tmp_path,
        "build",
        str(app),
        "-i",
        f"oci:{tmp_path}/out",
        "--creation-time",
        "100000000000000000000",
    )
    assert "creation-time" in line and not (tmp_path / "out").exists()
    assert "--insecure-registry" in _through_cnbsdk(
        tmp_path, "--insecure-registry", "bad host", "images"
    )
    assert "CNBSDK_REGISTRY_DEADLINE" in _through_cnbsdk(
        tmp_path, "inspect", "127.0.0.1:9/a/b", env={"CNBSDK_REGISTRY_DEADLINE": "nan"}
    )


# -- refused where read: package and build, not only validate --------------------------------


def _plain_buildpack(directory: Path, bp_id: str) -> Path:
    (directory / "bin").mkdir(parents=True)
    (directory / "buildpack.toml").write_text(
        f'api = "0.10"\n[buildpack]\nid = "{bp_id}"\nversion = "1.0.0"\n[[targets]]\nos = "linux"\n'
    )
    for name in ("detect", "build"):
        (directory / "bin" / name).write_text("#!/bin/sh\nexit 0\n")
        (directory / "bin" / name).chmod(0o755)
    return directory


@pytest.mark.parametrize("bp_id", ["..", ".", "a//b", "/etc", "x" * 300], ids=lambda v: v[:8])
@pytest.mark.parametrize("fmt", ["dir", "cnb", "image"])
def test_package_buildpack_refuses_ids_that_are_not_path_safe(
    tmp_path: Path, bp_id: str, fmt: str
) -> None:
    source = _plain_buildpack(tmp_path / "src", bp_id)
    output = {
        "dir": str(tmp_path / "out"),
        "cnb": str(tmp_path / "out.cnb"),
        "image": f"oci:{tmp_path / 'out'}",
    }[fmt]
    result = run_cli("package", "buildpack", str(source), "--format", fmt, "-o", output)
    assert_one_line_error(result, contains="buildpack.id")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private", "src"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("build", "docker://:::"),
        ("build", "NOT A REF"),
        ("run", "NOT A REF"),
        ("run", "UPPER/Case"),
        ("stack-id", "a b c"),
    ],
)
def test_package_builder_refuses_bad_references_before_writing(
    tmp_path: Path, field: str, value: str
) -> None:
    _plain_buildpack(tmp_path / "bp", "example/ok")
    build_image = value if field == "build" else "example/build:1"
    run_image = value if field == "run" else "example/run:1"
    stack = f'[stack]\nid = "{value}"\nbuild-image = "{build_image}"\nrun-image = "{run_image}"\n'
    builder = tmp_path / "builder.toml"
    builder.write_text(
        (
            stack
            if field == "stack-id"
            else f'[build]\nimage = "{build_image}"\n[[run.images]]\nimage = "{run_image}"\n'
        )
        + '[[buildpacks]]\nuri = "./bp"\n[[order]]\n[[order.group]]\nid = "example/ok"\n'
    )
    result = run_cli("package", "builder", str(builder), "-o", f"oci:{tmp_path / 'out'}")
    assert_one_line_error(result, contains=str(builder))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "project",
    [
        '[_]\nschema-version = "0.2"\n[io.buildpacks]\nbuilder = "NOT A REF"\n',
        '[_]\nschema-version = "0.2"\n[[io.buildpacks.build.env]]\nname = "A=B"\nvalue = "1"\n',
        '[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nid = ".."\nversion = "1.0.0"\n',
        '[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nuri = "docker://:::"\n',
        "x = " + "[" * 3000 + "]" * 3000 + "\n",
    ],
    ids=["builder-ref", "env-name", "group-id", "group-uri", "deep"],
)
def test_build_refuses_a_bad_project_toml_before_anything_runs(
    tmp_path: Path, app: Path, project: str
) -> None:
    (app / "project.toml").write_text(project)
    out = tmp_path / "out"
    result = run_cli("build", str(app), "-i", f"oci:{out}")
    assert_one_line_error(result, contains="project.toml")
    assert not out.exists()
    assert "===>" not in result.output


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "big", "\u00b2", "9" * 5000, "1e9"])
def test_registry_chunk_size_must_be_a_byte_count(value: str) -> None:
    from cnbsdk.oci.registry.upload import UploadSettings

    with pytest.raises(CnbError) as raised:
        UploadSettings.from_environment({"CNBSDK_REGISTRY_CHUNK_SIZE": value})
    assert "CNBSDK_REGISTRY_CHUNK_SIZE" in str(raised.value) and len(str(raised.value)) < 200


@pytest.mark.parametrize("text", ["1.0.0-\u00b2", "1.0.0-" + "9" * 5000, "1.0.0-a.\u0661"])
def test_versions_with_digits_that_are_not_ascii_parse(text: str) -> None:
    from cnbsdk.deps.versions import _prerelease

    assert _prerelease(text.split("-", 1)[1])


@pytest.mark.parametrize("value", ["\u00b2", "9" * 40, "1.5", "-3", "\u00b23"])
def test_a_registrys_retry_after_that_is_no_number_is_ignored(value: str) -> None:
    from cnbsdk.oci.registry.client import _retry_after

    assert _retry_after(value) is None
