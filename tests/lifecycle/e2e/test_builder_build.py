"""`cnbsdk build --builder REF` and the default builder: buildpacks, order, build env, run
image and build image all come from the builder, from the local store or straight from a
registry.

Starts: bubblewrap (buildpacks run inside the builder image), the real docker-registry on
loopback (tests/registry_server.py), the C compiler (once, for the launcher).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnbsdk.lifecycle.default_stack import DefaultStack
from tests.distribution.test_builder import package_builder, write_builder_inputs
from tests.lifecycle.e2e.conftest import cnbsdk, read_app_image
from tests.registry_server import RegistryServer

REPO = Path(__file__).resolve().parents[3]


def _build(app: Path, image: str, cache: Path, *extra: str):
    return cnbsdk("build", str(app), "--image", image, "--cache-dir", str(cache), *extra)


def test_build_takes_buildpacks_order_env_and_run_image_from_the_builder(
    e2e_home: DefaultStack, hello_app: Path, out: Path, tmp_path: Path
) -> None:
    made = package_builder(write_builder_inputs(tmp_path / "inputs"), "e2e/builder:build")
    assert made.exit_code == 0, made.output

    built = _build(hello_app, f"oci:{out}/app:1", out / "cache", "--builder", "e2e/builder:build")
    assert built.exit_code == 0, built.output
    # Group 1: the composite's hello (its optional member fails detect) and processes.
    detected = built.output.split("===> DETECTING\n")[1].split("===> RESTORING")[0]
    assert detected.strip().splitlines() == ["e2e/hello 1.0.0", "e2e/processes 1.0.0"]
    # The operator env of the builder (/cnb/build-config/env) reaches the buildpacks.
    assert "hello build env: BUILDER_GREETING=hi from the builder" in built.output
    assert "hello build env: BUILDER_PATH=/opt/builder" in built.output
    image = read_app_image(f"oci:{out}/app:1")
    run = image.label_json("io.buildpacks.lifecycle.metadata")["runImage"]
    assert run["image"] == "cnbsdk/run:bookworm"
    assert run["mirrors"] == ["e2e/run-mirror:bookworm"]
    assert image.config.entrypoint == ("/cnb/process/web",)

    # Without hello.txt the first group fails and the second (processes alone) builds.
    plain = tmp_path / "plain-app"
    plain.mkdir()
    (plain / "index.txt").write_text("no hello here\n")
    other = _build(plain, f"oci:{out}/plain:1", out / "cache2", "--builder", "e2e/builder:build")
    assert other.exit_code == 0, other.output
    detected = other.output.split("===> DETECTING\n")[1].split("===> RESTORING")[0]
    assert detected.strip().splitlines() == ["e2e/processes 1.0.0"]

    # --buildpack still overrides the order, taking the builder's buildpack by id.
    only = _build(
        hello_app, f"oci:{out}/only:1", out / "cache3",
        "--builder", "e2e/builder:build", "--buildpack", "e2e/hello@1.0.0",
    )  # fmt: skip
    assert only.exit_code == 0, only.output
    detected = only.output.split("===> DETECTING\n")[1].split("===> RESTORING")[0]
    assert detected.strip().splitlines() == ["e2e/hello 1.0.0"]

    # cnbsdk detect --builder explains every group it tried.
    report = cnbsdk("detect", str(plain), "--builder", "e2e/builder:build")
    assert report.exit_code == 0, report.output
    assert "Group 1 of 2 tried: failed" in report.output
    assert "Group 2 of 2 tried: passed" in report.output


def test_builder_straight_from_the_registry_with_a_mirror_on_the_app_registry(
    e2e_home: DefaultStack,
    hello_app: Path,
    out: Path,
    tmp_path: Path,
    registry: RegistryServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    mirror = f"{registry.host}/e2e-builder/run:bookworm"
    assert cnbsdk("copy", "cnbsdk/run:bookworm", mirror).exit_code == 0
    config = write_builder_inputs(tmp_path / "inputs")
    config.write_text(config.read_text().replace("e2e/run-mirror:bookworm", mirror))
    made = package_builder(config, f"{registry.host}/e2e-builder/builder:1")
    assert made.exit_code == 0, made.output

    app_image = f"{registry.host}/e2e-builder/app:1"
    built = _build(
        hello_app, app_image, out / "cache", "--builder", f"{registry.host}/e2e-builder/builder:1"
    )
    assert built.exit_code == 0, built.output
    image = read_app_image(app_image)
    run = image.label_json("io.buildpacks.lifecycle.metadata")["runImage"]
    # platform.md §Run Image Resolution: the mirror on the app image's registry wins.
    assert run["reference"].startswith(f"{registry.host}/e2e-builder/run@sha256:")
    assert run["mirrors"] == [mirror]
    assert json.loads(image.config.labels["io.buildpacks.build.metadata"])["buildpacks"] == [
        {"id": "e2e/hello", "version": "1.0.0"},
        {"id": "e2e/processes", "version": "1.0.0"},
    ]


def test_default_builder_is_made_on_first_use_and_reused(e2e_home: DefaultStack, out: Path) -> None:
    app = REPO / "examples" / "apps" / "hello-app"
    first = _build(app, f"oci:{out}/hello:1", out / "cache")
    assert first.exit_code == 0, first.output
    assert "Creating the default builder cnbsdk/builder:bookworm (first use" in first.output
    assert "Using builder cnbsdk/builder:bookworm" in first.output
    assert "examples/hello 0.1.0" in first.output
    second = _build(app, f"oci:{out}/hello:2", out / "cache")
    assert second.exit_code == 0, second.output
    assert "Creating the default builder" not in second.output
    assert "Using builder cnbsdk/builder:bookworm" in second.output


def test_project_toml_names_the_builder_and_builder_overrides_it(
    e2e_home: DefaultStack, hello_app: Path, out: Path, tmp_path: Path
) -> None:
    made = package_builder(write_builder_inputs(tmp_path / "inputs"), "e2e/builder:project")
    assert made.exit_code == 0, made.output
    (hello_app / "project.toml").write_text(
        '[_]\nschema-version = "0.2"\n[io.buildpacks]\nbuilder = "e2e/builder:project"\n'
    )

    built = _build(hello_app, f"oci:{out}/app:1", out / "cache")

    assert built.exit_code == 0, built.output
    assert "Using builder e2e/builder:project" in built.output
    assert "Creating the default builder" not in built.output
    detected = built.output.split("===> DETECTING\n")[1].split("===> RESTORING")[0]
    assert detected.strip().splitlines() == ["e2e/hello 1.0.0", "e2e/processes 1.0.0"]
    # --builder wins over project.toml, as with pack.
    missing = _build(hello_app, f"oci:{out}/app:2", out / "cache", "--builder", "e2e/nope:1")
    assert missing.exit_code == 1
    assert "e2e/nope:1" in missing.output.splitlines()[-1]
