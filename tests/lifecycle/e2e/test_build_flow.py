"""``cnbsdk build`` / ``cnbsdk detect`` end to end, with bash buildpacks in the spec's format
run in the sandbox (bubblewrap, the default build image) and images written as OCI layouts.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from cnbsdk.spec.labels import BUILD_METADATA_LABEL, PROJECT_METADATA_LABEL
from tests.lifecycle.e2e.conftest import (
    REPO,
    build_args,
    buildpack,
    cache_state,
    cnbsdk,
    read_app_image,
)

pytestmark = pytest.mark.usefixtures("e2e_home")

PHASES = ["===> ANALYZING", "===> DETECTING", "===> RESTORING", "===> BUILDING", "===> EXPORTING"]


def phases_in_order(output: str) -> bool:
    positions = [output.find(header) for header in PHASES]
    return -1 not in positions and positions == sorted(positions)


def test_hello_buildpack_sees_its_env_and_plan_and_the_image_is_complete(
    hello_app: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("E2E_HOST_ONLY", "must not leak")
    image = f"oci:{out}/layout:app"
    result = cnbsdk(
        *build_args(hello_app, image, out / "cache", "hello", extra=("--env", "GREETING=hey"))
    )
    assert result.exit_code == 0, result.output
    output = result.output
    assert phases_in_order(output)
    assert "e2e/hello 1.0.0" in output  # the chosen group, as pack prints it
    # The spec's inputs, as the buildpack saw them inside the sandbox.
    assert "hello build: args=/layers/e2e_hello /platform " in output
    assert "hello build env: CNB_LAYERS_DIR=/layers/e2e_hello" in output
    assert "hello build env: CNB_BUILDPACK_DIR=/cnb/buildpacks/e2e_hello/1.0.0" in output
    assert "hello build env: CNB_TARGET_OS=linux" in output
    assert "hello build env: GREETING=hey" in output
    assert "E2E_HOST_ONLY" not in output  # the env is filtered
    assert "hello build: uid=1000 gid=1000 pwd=/workspace" in output  # the image's CNB user
    assert 'hello build plan:     { name = "hello", metadata = { greeting = "hi" } },' in output
    assert "Adding layer 'e2e/hello:hello'" in output
    assert f"Successfully built image '{image}'" in output
    for phase in ("analyzing", "detecting", "restoring", "building", "exporting"):
        assert f"  {phase} " in output  # the timing summary

    app = read_app_image(image)
    assert app.config.entrypoint == ("/cnb/process/web",)
    assert app.config.working_dir == "/workspace"
    env = app.config.env_dict()
    assert env["CNB_LAYERS_DIR"] == "/layers"
    assert env["PATH"].startswith("/cnb/process:/cnb/lifecycle:")
    assert app.label_json(PROJECT_METADATA_LABEL) == {}
    assert [bp["id"] for bp in app.label_json(BUILD_METADATA_LABEL)["buildpacks"]] == ["e2e/hello"]
    assert "hello" in app.lifecycle.buildpacks[0].layers
    assert f"Image digest: {app.digest}" in output


def test_processes_label_and_default_process(hello_app: Path, out: Path) -> None:
    image = f"oci:{out}/layout:app"
    extra = ("--default-process", "worker")
    result = cnbsdk(*build_args(hello_app, image, out / "cache", "processes", extra=extra))
    assert result.exit_code == 0, result.output
    app = read_app_image(image)
    assert app.config.entrypoint == ("/cnb/process/worker",)
    assert app.config.labels["org.example.e2e"] == "processes"
    build_metadata = app.label_json(BUILD_METADATA_LABEL)
    processes = {p["type"]: p for p in build_metadata["processes"]}
    assert sorted(processes) == ["in-sub", "web", "worker"]
    assert processes["worker"]["args"] == ["working", "hard"]
    assert processes["in-sub"]["working-dir"] == "/workspace/sub"
    assert build_metadata["buildpack-default-process-type"] == "web"


def test_composite_with_an_optional_member_that_fails_detect(hello_app: Path, out: Path) -> None:
    members = ("composite", "hello", "optional-member")
    detect = cnbsdk("detect", str(hello_app), *(f"--buildpack={buildpack(m)}" for m in members))
    assert detect.exit_code == 0, detect.output
    assert "Group 1 of 1 tried: passed" in detect.output
    assert "  pass    e2e/hello 1.0.0: passed" in detect.output
    assert "  skipped e2e/optional-member 1.0.0 (optional): optional, and detect failed" in (
        detect.output
    )
    assert "      | optional-member detect: this app needs nothing from me" in detect.output

    image = f"oci:{out}/layout:app"
    result = cnbsdk(*build_args(hello_app, image, out / "cache", *members))
    assert result.exit_code == 0, result.output
    assert "e2e/hello 1.0.0" in result.output
    assert "e2e/optional-member 1.0.0" not in result.output
    assert "must never run" not in result.output


def test_plan_or_alternative_is_chosen(hello_app: Path, out: Path) -> None:
    detect = cnbsdk("detect", str(hello_app), "--buildpack", buildpack("or-plan"))
    assert detect.exit_code == 0, detect.output
    assert "provides python, requires python" in detect.output
    assert 'python: provided by e2e/or-plan@1.0.0; required as python {"version": "3.11"}' in (
        detect.output
    )
    result = cnbsdk(*build_args(hello_app, f"oci:{out}/l:app", out / "cache", "or-plan"))
    assert result.exit_code == 0, result.output
    assert 'or-plan plan:     { name = "python", metadata = { version = "3.11" } },' in (
        result.output
    )


def test_detect_failure_says_why(tmp_path: Path, out: Path) -> None:
    app = tmp_path / "no-hello"
    app.mkdir()
    result = cnbsdk("detect", str(app), "--buildpack", buildpack("hello"))
    assert result.exit_code == 20
    assert "Group 1 of 1 tried: failed: required buildpack e2e/hello@1.0.0 failed" in result.output
    assert "  fail    e2e/hello 1.0.0: failed (exit 100)" in result.output
    assert "hello detect: no hello.txt in /workspace" in result.output
    assert "error: No buildpack groups passed detection" in result.stderr

    build = cnbsdk(*build_args(app, f"oci:{out}/l:app", out / "cache", "hello"))
    assert build.exit_code == 20
    assert "hello detect: no hello.txt" in build.output
    assert not (out / "l").exists()  # nothing written


def test_rebuild_reuses_every_layer_and_a_source_change_adds_only_the_app_layer(
    hello_app: Path, out: Path
) -> None:
    image = f"oci:{out}/layout:app"
    cache = out / "cache"
    sboms = out / "sboms"
    args = build_args(hello_app, image, cache, "layers", "hello")
    first = cnbsdk(*args, "--sbom-output-dir", str(sboms))
    assert first.exit_code == 0, first.output
    assert "layers build: rebuild" not in first.output
    before = read_app_image(image)
    assert (sboms / "launch" / "e2e_layers" / "launch-layer" / "sbom.cdx.json").is_file()
    assert (sboms / "launch" / "e2e_layers" / "sbom.cdx.json").is_file()
    assert (sboms / "build" / "e2e_layers" / "sbom.cdx.json").is_file()
    layers = before.lifecycle.buildpacks[0].layers
    assert sorted(layers) == ["launch-cache", "launch-kept", "launch-layer"]  # no build-only
    assert cache_state(cache)[0] != "{}"

    # Nothing changed: the buildpack's own restore check passes and every layer is reused.
    again = cnbsdk(*args)
    assert again.exit_code == 0, again.output
    assert "layers build: restore check passed" in again.output
    assert 'Restoring data for "e2e/layers:cache-layer" from cache' in again.output
    assert 'Restoring data for "e2e/layers:launch-cache" from cache' in again.output
    assert 'Restoring metadata for "e2e/layers:launch-layer" from app image' in again.output
    for layer in ("launch-cache", "launch-kept", "launch-layer"):
        assert f"Reusing layer 'e2e/layers:{layer}'" in again.output
    assert "Reusing layer 'e2e/hello:hello'" in again.output
    assert "Adding layer" not in again.output
    assert "Reused 1/1 app layer(s)" in again.output and "Added 1/1 app" not in again.output
    # Cached layers restored from the cache go back to it as the same tars, untouched.
    assert "Reusing cache layer 'e2e/layers:launch-cache'" in again.output
    assert "Reusing cache layer 'e2e/layers:cache-layer'" in again.output
    assert "Adding cache layer" not in again.output
    assert read_app_image(image).digest == before.digest  # same inputs, same image

    # A source change: only the app layer differs.
    (hello_app / "hello.txt").write_text("changed\n")
    changed = cnbsdk(*args)
    assert changed.exit_code == 0, changed.output
    assert "Added 1/1 app layer(s)" in changed.output
    after = read_app_image(image)
    old_ids, new_ids = before.config.diff_ids, after.config.diff_ids
    assert len(old_ids) == len(new_ids)
    differing = [i for i, (a, b) in enumerate(zip(old_ids, new_ids, strict=True)) if a != b]
    assert [new_ids[i] for i in differing] == list(after.lifecycle.app)


def test_clear_cache_restores_nothing_and_replaces_the_cache(hello_app: Path, out: Path) -> None:
    image = f"oci:{out}/layout:app"
    cache = out / "cache"
    args = build_args(hello_app, image, cache, "layers")
    assert cnbsdk(*args).exit_code == 0
    cleared = cnbsdk(*args, "--clear-cache")
    assert cleared.exit_code == 0, cleared.output
    assert "Restoring" not in cleared.output
    assert "layers build: rebuild" not in cleared.output  # it saw an empty <layers>
    metadata = json.loads(cache_state(cache)[0])
    assert sorted(metadata["buildpacks"][0]["layers"]) == ["cache-layer", "launch-cache"]


def test_project_toml_exclude_env_and_inline_group(tmp_path: Path, out: Path) -> None:
    app = tmp_path / "app"
    (app / "logs").mkdir(parents=True)
    (app / "hello.txt").write_text("hi\n")
    (app / "secret.txt").write_text("do not ship\n")
    (app / "logs" / "today.log").write_text("noise\n")
    (app / "project.toml").write_text(
        f"""
[_]
schema-version = "0.2"
id = "e2e.app"
version = "2.0.0"
source-url = "https://example.com/e2e-app"

[io.buildpacks]
exclude = ["secret.txt", "logs/"]

[[io.buildpacks.group]]
uri = "{buildpack("hello")}"

[[io.buildpacks.group]]
id = "e2e/inline"
[io.buildpacks.group.script]
api = "0.10"
shell = "/bin/bash"
inline = "echo \\"inline sees PROJECT_VAR=$PROJECT_VAR\\"; ls -A | sed 's/^/inline app file: /'"

[[io.buildpacks.build.env]]
name = "PROJECT_VAR"
value = "from-project"
"""
    )
    image = f"oci:{out}/layout:app"
    result = cnbsdk("build", str(app), "--image", image, "--cache-dir", str(out / "cache"))
    assert result.exit_code == 0, result.output
    assert "e2e/hello 1.0.0\ne2e/inline 0.0.0" in result.output
    assert "inline sees PROJECT_VAR=from-project" in result.output
    files = {
        line.split(": ", 1)[1] for line in result.output.splitlines() if "inline app file" in line
    }
    assert files == {"hello.txt", "project.toml"}
    project = read_app_image(image).label_json(PROJECT_METADATA_LABEL)
    assert project == {
        "source": {
            "type": "project",
            "version": {"declared": "2.0.0"},
            "metadata": {"url": "https://example.com/e2e-app"},
        }
    }


def test_include_and_exclude_together_fail_before_building(tmp_path: Path, out: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "project.toml").write_text(
        '[_]\nschema-version = "0.2"\n[io.buildpacks]\ninclude = ["a"]\nexclude = ["b"]\n'
    )
    result = cnbsdk(*build_args(app, f"oci:{out}/l:app", out / "cache", "hello"))
    assert result.exit_code == 1
    assert "project.toml: io.buildpacks: set include or exclude, not both" in result.stderr
    assert "===> ANALYZING" not in result.output


def test_app_from_a_zip_file(tmp_path: Path, out: Path) -> None:
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("hello.txt", "zipped hello\n")
        zipped.writestr("sub/other.txt", "x\n")
    result = cnbsdk(*build_args(archive, f"oci:{out}/l:app", out / "cache", "hello"))
    assert result.exit_code == 0, result.output
    assert "Successfully built image" in result.output


@pytest.mark.parametrize(
    "given",
    [str(REPO / "examples" / "hello-buildpack"), "examples/hello"],
    ids=["project-dir", "installed-id"],
)
def test_tutorial_python_buildpack_builds_in_the_sandbox(out: Path, given: str) -> None:
    app = REPO / "examples" / "apps" / "hello-app"
    image = f"oci:{out}/layout:app"
    result = cnbsdk(
        "build", str(app), "--image", image, "--cache-dir", str(out / "cache"), "--buildpack", given
    )
    assert result.exit_code == 0, result.output
    assert "examples/hello 0.1.0" in result.output
    info = read_app_image(image)
    assert "hello" in info.lifecycle.buildpacks[0].layers
    assert info.config.entrypoint == ("/cnb/process/web",)


def test_no_sandbox_warns_and_runs_on_the_host(hello_app: Path, out: Path) -> None:
    args = build_args(
        hello_app, f"oci:{out}/l:app", out / "cache", "hello", extra=("--no-sandbox",)
    )
    result = cnbsdk(*args)
    assert result.exit_code == 0, result.output
    assert "Warning: --no-sandbox" in result.output
    layers_dir = next(
        line.split("=", 1)[1]
        for line in result.output.splitlines()
        if "env: CNB_LAYERS_DIR=" in line
    )
    assert layers_dir.startswith("/") and layers_dir.endswith("/workspace/layers/e2e_hello")
    assert layers_dir != "/layers/e2e_hello"  # host paths, not the sandbox's


def test_creation_time_and_source_date_epoch(
    hello_app: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = f"oci:{out}/layout:app"
    extra = ("--creation-time", "2024-01-31T12:00:00Z")
    result = cnbsdk(*build_args(hello_app, image, out / "cache", "hello", extra=extra))
    assert result.exit_code == 0, result.output
    assert read_app_image(image).config.created == "2024-01-31T12:00:00Z"

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    result = cnbsdk(*build_args(hello_app, image, out / "cache", "hello"))
    assert result.exit_code == 0, result.output
    assert read_app_image(image).config.created == "1970-01-02T00:00:00Z"

    bad = cnbsdk(
        *build_args(hello_app, image, out / "cache", "hello", extra=("--creation-time", "soon"))
    )
    assert bad.exit_code == 1
    assert "invalid time 'soon'" in bad.stderr
    assert "===> ANALYZING" not in bad.output  # refused before anything ran


def test_previous_image_gives_layers_to_a_new_image(hello_app: Path, out: Path) -> None:
    first, second = f"oci:{out}/layout:first", f"oci:{out}/layout:second"
    assert cnbsdk(*build_args(hello_app, first, out / "cache", "hello")).exit_code == 0
    extra = ("--previous-image", first)
    result = cnbsdk(*build_args(hello_app, second, out / "cache", "hello", extra=extra))
    assert result.exit_code == 0, result.output
    assert 'Restoring metadata for "e2e/hello:hello" from app image' in result.output
    assert "Reusing layer 'e2e/hello:hello'" in result.output
    assert read_app_image(second).digest == read_app_image(first).digest


def test_network_none_leaves_only_loopback(hello_app: Path, out: Path) -> None:
    def interfaces(*extra: str) -> set[str]:
        args = build_args(
            hello_app,
            f"oci:{out}/l:app",
            out / "cache",
            "bad",
            extra=("-e", "BAD_MODE=show-network", *extra),
        )
        result = cnbsdk(*args)
        assert result.exit_code == 0, result.output
        prefix = "bad build: interface "
        return {
            line[len(prefix) :] for line in result.output.splitlines() if line.startswith(prefix)
        }

    assert interfaces("--network", "none") == {"lo"}
    assert interfaces() - {"lo"}  # the default is the host's network
