"""Packaging a buildpack directory: sources, layout, vendoring, replacing the output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.buildpack.plugin import load_plugin
from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.errors import PackageError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HELLO_PACKAGE = EXAMPLES / "hello-buildpack" / "hello_buildpack"

PLUGIN_SOURCE = """
from cnbsdk.buildpack import BuildResult, DetectResult, hookimpl
{extra_import}

@hookimpl
def detect(context):
    return DetectResult.passed()

@hookimpl
def build(context):
    return BuildResult()
"""
BUILDPACK_TOML = 'api = "0.10"\n[buildpack]\nid = "tests/tiny"\nversion = "0.0.1"\n'


def make_plugin(root: Path, name: str = "tiny_bp", extra_import: str = "") -> Path:
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE.format(extra_import=extra_import))
    (package / "buildpack.toml").write_text(BUILDPACK_TOML)
    return package


def run_detect(packaged: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    plan = tmp_path / "plan.toml"
    plan.touch()
    (tmp_path / "platform").mkdir(exist_ok=True)
    return subprocess.run(
        [
            "/usr/bin/env",
            "-i",
            "PATH=/usr/bin:/bin",
            str(packaged / "bin" / "detect"),
            str(tmp_path / "platform"),
            str(plan),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_installed_plugin_is_packaged_by_id(tmp_path: Path) -> None:
    packaged = package_buildpack_dir("examples/hello", tmp_path / "out")
    assert (packaged.id, packaged.version, packaged.plugin_ref) == (
        "examples/hello",
        "0.1.0",
        "hello_buildpack",
    )
    out = tmp_path / "out"
    assert (out / "buildpack.toml").read_bytes() == (HELLO_PACKAGE / "buildpack.toml").read_bytes()
    detect, build = (out / "bin" / "detect").read_text(), (out / "bin" / "build").read_text()
    assert detect == build and "main('hello_buildpack')" in detect
    assert (out / "lib" / "hello_buildpack" / "__init__.py").read_text() == (
        HELLO_PACKAGE / "__init__.py"
    ).read_text()
    assert packaged.vendored == ("cnbsdk", "pluggy", "tomli_w", "tomli", "hello_buildpack")


def test_package_data_such_as_the_json_schemas_is_vendored(tmp_path: Path) -> None:
    package_buildpack_dir("examples/hello", tmp_path / "out")
    schemas = tmp_path / "out" / "lib" / "cnbsdk" / "spec" / "schemas"
    assert list(schemas.glob("*.schema.json"))
    assert list((tmp_path / "out" / "lib").glob("pluggy-*.dist-info/METADATA"))


def test_a_plugin_package_directory_is_packaged_with_its_dotted_ref(tmp_path: Path) -> None:
    outer = tmp_path / "src" / "outer"
    outer.mkdir(parents=True)
    (outer / "__init__.py").write_text("")
    make_plugin(outer, "inner")
    packaged = package_buildpack_dir(outer / "inner", tmp_path / "out")
    assert packaged.plugin_ref == "outer.inner"
    assert (tmp_path / "out" / "lib" / "outer" / "inner" / "buildpack.toml").is_file()
    assert run_detect(tmp_path / "out", tmp_path).returncode == 0


def test_a_project_directory_is_packaged_through_its_entry_point(tmp_path: Path) -> None:
    project = tmp_path / "project"
    make_plugin(project / "src", "tiny_bp")
    (project / "pyproject.toml").write_text(
        '[project]\nname = "tiny"\n[project.entry-points.cnbsdk]\ntiny = "tiny_bp"\n'
    )
    packaged = package_buildpack_dir(project, tmp_path / "out")
    assert packaged.plugin_ref == "tiny_bp"
    assert run_detect(tmp_path / "out", tmp_path).returncode == 0


def test_a_loaded_plugin_object_is_packaged(tmp_path: Path) -> None:
    packaged = package_buildpack_dir(load_plugin("hello_buildpack"), tmp_path / "out")
    assert packaged.id == "examples/hello"


def test_a_plain_buildpack_directory_is_copied_as_it_is(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "bin").mkdir(parents=True)
    (plain / "buildpack.toml").write_text(BUILDPACK_TOML)
    for phase in ("detect", "build"):
        (plain / "bin" / phase).write_text("#!/bin/sh\nexit 0\n")
        (plain / "bin" / phase).chmod(0o755)
    packaged = package_buildpack_dir(plain, tmp_path / "out")
    assert packaged.plugin_ref is None and packaged.vendored == ()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bin", "buildpack.toml"]
    assert os.access(tmp_path / "out" / "bin" / "detect", os.X_OK)


def test_a_plugin_declaring_api_0_9_is_refused_and_a_plain_0_9_directory_is_not(
    tmp_path: Path,
) -> None:
    plugin = make_plugin(tmp_path / "src")
    (plugin / "buildpack.toml").write_text(BUILDPACK_TOML.replace('"0.10"', '"0.9"'))
    with pytest.raises(PackageError) as caught:
        package_buildpack_dir(plugin, tmp_path / "out")
    assert str(caught.value) == (
        f"{plugin / 'buildpack.toml'}: api: unsupported Buildpack API 0.9 for a Python plugin: "
        "cnbsdk.buildpack implements 0.10 to 0.12 (bash or Go buildpacks of 0.7 to 0.12 build "
        "as they are)"
    )
    assert not (tmp_path / "out").exists()

    plain = tmp_path / "plain"
    (plain / "bin").mkdir(parents=True)
    (plain / "buildpack.toml").write_text(BUILDPACK_TOML.replace('"0.10"', '"0.9"'))
    for phase in ("detect", "build"):
        (plain / "bin" / phase).write_text("#!/bin/sh\nexit 0\n")
        (plain / "bin" / phase).chmod(0o755)
    assert str(package_buildpack_dir(plain, tmp_path / "plain-out").descriptor.api) == "0.9"


def test_a_plain_component_without_bin_build_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "bin").mkdir(parents=True)
    (plain / "buildpack.toml").write_text(BUILDPACK_TOML)
    (plain / "bin" / "detect").write_text("#!/bin/sh\n")
    with pytest.raises(PackageError, match="needs bin/build"):
        package_buildpack_dir(plain, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_dependency_fails_packaging_and_leaves_nothing(tmp_path: Path) -> None:
    package = make_plugin(tmp_path / "src", extra_import="import click")
    with pytest.raises(PackageError, match="No module named 'click'") as raised:
        package_buildpack_dir(package, tmp_path / "out")
    assert "--vendor" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_vendor_adds_a_pure_python_dependency(tmp_path: Path) -> None:
    package = make_plugin(tmp_path / "src", extra_import="import click")
    packaged = package_buildpack_dir(package, tmp_path / "out", vendor=["click"])
    assert "click" in packaged.vendored
    assert (tmp_path / "out" / "lib" / "click" / "__init__.py").is_file()
    assert run_detect(tmp_path / "out", tmp_path).returncode == 0


def test_a_compiled_dependency_is_refused(tmp_path: Path) -> None:
    package = make_plugin(tmp_path / "src")
    with pytest.raises(PackageError, match="compiled extension"):
        package_buildpack_dir(package, tmp_path / "out", vendor=["rpds"])
    assert not (tmp_path / "out").exists()


def test_an_empty_output_dir_is_filled_and_a_non_empty_one_needs_force(tmp_path: Path) -> None:
    package = make_plugin(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    package_buildpack_dir(package, out)
    with pytest.raises(PackageError, match="not empty"):
        package_buildpack_dir(package, out)
    (out / "stale").write_text("old")
    package_buildpack_dir(package, out, force=True)
    assert not (out / "stale").exists() and (out / "bin" / "detect").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_the_entry_script_refuses_python_older_than_3_10_in_one_line(tmp_path: Path) -> None:
    package_buildpack_dir(make_plugin(tmp_path / "src"), tmp_path / "out")
    script = tmp_path / "out" / "bin" / "detect"
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.version_info = (3, 9, 18); sys.argv = [sys.argv[1]]; "
            "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))",
            str(script),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr == "error: tests/tiny needs python3 >= 3.10, found 3.9\n"
