"""Checklist rules about the packaged directory itself (digest §1.2-§1.4, §8)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.errors import CnbError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "fixtures"


def test_section_1_2_component_has_buildpack_toml_and_executable_bin_detect_and_build(
    packaged_conformance: Path,
) -> None:
    assert (packaged_conformance / "buildpack.toml").is_file()
    for phase in ("detect", "build"):
        executable = packaged_conformance / "bin" / phase
        assert os.access(executable, os.X_OK), f"bin/{phase} is not executable"
        assert executable.read_text().startswith("#!/usr/bin/env python3\n")


def test_rule_1_api_is_a_string(packaged_conformance: Path) -> None:
    descriptor = tomllib.loads((packaged_conformance / "buildpack.toml").read_text())
    assert descriptor["api"] == "0.10"


def test_rule_45_targets_are_kept_and_bin_build_lets_tools_infer_linux(
    packaged_conformance: Path,
) -> None:
    descriptor = tomllib.loads((packaged_conformance / "buildpack.toml").read_text())
    assert descriptor["targets"] == [{"os": "linux"}]
    assert (packaged_conformance / "bin" / "build").is_file()


def test_lib_holds_the_runtime_and_the_plugin_but_not_the_platform_side(
    packaged_conformance: Path,
) -> None:
    lib = packaged_conformance / "lib"
    for name in ("cnbsdk/buildpack/runtime.py", "cnbsdk/spec", "pluggy", "tomli_w", "tomli"):
        assert (lib / name).exists(), name
    assert (lib / "conformance_bp" / "buildpack.toml").is_file()
    for absent in ("cnbsdk/cli", "cnbsdk/oci", "cnbsdk/distribution", "jsonschema", "click"):
        assert not (lib / absent).exists(), absent
    assert not list(lib.rglob("*.so")) and not list(lib.rglob("__pycache__"))


def test_the_system_python_without_pluggy_runs_it(packaged_conformance: Path) -> None:
    probe = subprocess.run(
        ["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "python3", "-c", "import pluggy"],
        capture_output=True,
        check=False,
    )
    assert probe.returncode != 0, "the system python3 has pluggy: vendoring is not proven"


@pytest.mark.parametrize(
    ("buildpack_toml", "field"),
    [
        ('api = "0.10"\n[buildpack]\nid = "sbom"\nversion = "1.0.0"\n', "buildpack.id"),
        ('api = "0.10"\n[buildpack]\nid = "has space"\nversion = "1.0.0"\n', "buildpack.id"),
    ],
)
def test_rule_2_invalid_and_reserved_ids_are_refused(
    tmp_path: Path, buildpack_toml: str, field: str
) -> None:
    package = tmp_path / "bad_bp"
    package.mkdir()
    (package / "__init__.py").write_text((FIXTURES / "conformance_bp" / "__init__.py").read_text())
    (package / "buildpack.toml").write_text(buildpack_toml)
    with pytest.raises(CnbError) as raised:
        package_buildpack_dir(package, tmp_path / "out")
    assert field in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_rule_3_id_slash_becomes_underscore_in_the_layers_dir(lifecycle) -> None:
    run = lifecycle.build({}, record=True)
    assert run.exit_code == 0, run.stderr
    assert Path(run.seen["layers_dir"]).name == "conformance_everything"
