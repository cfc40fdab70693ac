"""``cnbsdk inspect`` on app images: the view `pack inspect` gives, plus the layers.

Starts: bubblewrap (``cnbsdk build`` runs the e2e fixture buildpacks "layers" and
"processes" in the default build image, once for this module); images are OCI layouts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    REBASABLE_LABEL,
)
from tests.image_helpers import relabel as set_labels
from tests.lifecycle.e2e.conftest import (  # noqa: F401 (e2e_home is a fixture)
    build_args,
    cnbsdk,
    e2e_home,
    read_app_image,
)

pytestmark = pytest.mark.usefixtures("e2e_home")


@pytest.fixture(scope="module")
def app_image(e2e_home: Any, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    """An app built by "layers" and "processes", started as ``worker`` (not the buildpack
    default ``web``), so the default shown must come from the image, not the label."""
    root = tmp_path_factory.mktemp("app-inspect")
    app = root / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hello\n")
    image = f"oci:{root}/layout:app"
    extra = ("--default-process", "worker")
    result = cnbsdk(*build_args(app, image, root / "cache", "layers", "processes", extra=extra))
    assert result.exit_code == 0, result.output
    return image


def run_image_top_layer(name: str) -> tuple[str, str]:
    """(manifest digest, top diffID) of the run image, read from the store."""
    info = read_app_image(name)
    return info.digest, info.config.diff_ids[-1]


def inspect_json(image: str) -> dict[str, Any]:
    result = cnbsdk("inspect", "--json", image)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def relabel(source_ref: str, dest_ref: str, **changes: str) -> None:
    """Copy an image with some labels replaced (``io__buildpacks__x`` names io.buildpacks.x)."""
    set_labels(source_ref, dest_ref, {name.replace("__", "."): v for name, v in changes.items()})


def test_text_view_shows_what_pack_inspect_shows(app_image: str) -> None:
    result = cnbsdk("inspect", app_image)
    assert result.exit_code == 0, result.output
    text = result.output
    app = read_app_image(app_image)
    run_digest, top_layer = run_image_top_layer("cnbsdk/run:bookworm")
    assert f"Digest:    {app.digest}" in text
    assert "Stack: io.cnbsdk.stacks.bookworm" in text
    assert f"  Reference: {run_digest}" in text
    assert f"  Top Layer: {top_layer}" in text
    assert "Run Images:\n  cnbsdk/run:bookworm\n" in text
    assert "Rebasable: true" in text
    lines = text.splitlines()
    table = lines[lines.index("Buildpacks:") + 1 : lines.index("Buildpacks:") + 4]
    assert [line.split() for line in table] == [
        ["ID", "VERSION", "HOMEPAGE"],
        ["e2e/layers", "1.0.0", "-"],
        ["e2e/processes", "1.0.0", "-"],
    ]
    start = lines.index("Processes:") + 1
    header, *rows = lines[start : start + 4]
    assert header.split() == ["TYPE", "SHELL", "COMMAND", "ARGS", "WORK", "DIR"]
    command_at = header.index("COMMAND")
    args_at, dir_at = header.index("ARGS"), header.index("WORK DIR")
    by_type = {row.split()[0]: row for row in rows}
    assert rows[0].startswith("  worker (default)")  # the default is listed first
    worker, web, in_sub = by_type["worker"], by_type["web"], by_type["in-sub"]
    assert worker[command_at:args_at].strip() == "echo"
    assert worker[args_at:dir_at].strip() == "working hard"
    assert worker[dir_at:].strip() == "/workspace"
    assert web[command_at:args_at].strip() == "/bin/sh -c 'echo web'"
    assert "(default)" not in web
    assert in_sub[command_at:args_at].strip() == "pwd"
    assert in_sub[dir_at:].strip() == "/workspace/sub"
    # The layers each buildpack contributed, with their flags and [metadata].
    lifecycle = app.lifecycle
    layers = lifecycle.buildpacks[0].layers
    block = text[text.index("Buildpack Layers:") : text.index("App Layers")]
    assert f"launch-cache  {layers['launch-cache'].sha}" in block
    assert 'metadata: {"kind":"both"}' in block
    assert f"launch-layer  {layers['launch-layer'].sha}" in block
    assert 'metadata: {"version":"1.0.0"}' in block
    assert "launch,cache" in block
    assert 'store: {"metadata":{"marker":"kept"}}' in block
    assert "e2e/processes 1.0.0\n    (no layers in the image)" in block
    assert "cache-layer" not in block and "build-layer" not in block  # not in the image
    assert f"App Layers (1):\n  {lifecycle.app[0]}" in text
    assert f"  sbom:         {lifecycle.sbom}" in text
    assert 'Entrypoint:  ["/cnb/process/worker"]' in text
    assert "    CNB_LAYERS_DIR=/layers" in text


def test_json_document(app_image: str) -> None:
    d = inspect_json(app_image)
    app = read_app_image(app_image)
    run_digest, top_layer = run_image_top_layer("cnbsdk/run:bookworm")
    assert d["kind"] == "app"
    assert d["digest"] == app.digest
    assert d["stack"] == "io.cnbsdk.stacks.bookworm"
    assert d["base"] == {
        "reference": run_digest,
        "topLayer": top_layer,
        "image": "cnbsdk/run:bookworm",
        "mirrors": [],
    }
    assert d["runImages"] == [{"name": "cnbsdk/run:bookworm", "mirror": False}]
    assert d["rebasable"] is True
    assert d["buildpacks"] == [
        {"id": "e2e/layers", "version": "1.0.0", "homepage": ""},
        {"id": "e2e/processes", "version": "1.0.0", "homepage": ""},
    ]
    assert d["defaultProcess"] == "worker"
    processes = {p["type"]: p for p in d["processes"]}
    assert processes["worker"] == {
        "type": "worker",
        "default": True,
        "shell": "",
        "command": ["echo"],
        "args": ["working", "hard"],
        "workingDir": "/workspace",
        "buildpackID": "e2e/processes",
    }
    assert processes["web"]["default"] is False
    assert processes["web"]["command"] == ["/bin/sh", "-c", "echo web"]
    assert processes["in-sub"]["workingDir"] == "/workspace/sub"
    # Layers: every diffID maps to the manifest's blob of the same position.
    blobs = {
        diff_id: (layer.digest, layer.size)
        for diff_id, layer in zip(app.config.diff_ids, app.manifest.layers, strict=True)
    }
    layers_bp, processes_bp = d["buildpackLayers"]
    assert (processes_bp["id"], processes_bp["layers"]) == ("e2e/processes", [])
    assert layers_bp["id"] == "e2e/layers" and layers_bp["version"] == "1.0.0"
    assert layers_bp["store"] == {"metadata": {"marker": "kept"}}
    by_name = {layer["name"]: layer for layer in layers_bp["layers"]}
    assert sorted(by_name) == ["launch-cache", "launch-kept", "launch-layer"]
    both = by_name["launch-cache"]
    assert (both["launch"], both["build"], both["cache"]) == (True, False, True)
    assert both["metadata"] == {"kind": "both"}
    assert by_name["launch-kept"]["metadata"] == {"kept": True}
    for layer in by_name.values():
        assert (layer["digest"], layer["size"]) == blobs[layer["diffID"]]
    assert [layer["diffID"] for layer in d["appLayers"]] == list(app.lifecycle.app)
    assert (d["appLayers"][0]["digest"], d["appLayers"][0]["size"]) == blobs[app.lifecycle.app[0]]
    lifecycle_layers = d["lifecycleLayers"]
    assert lifecycle_layers["sbom"]["diffID"] == app.lifecycle.sbom
    assert lifecycle_layers["launcher"]["diffID"] == app.lifecycle.launcher
    assert lifecycle_layers["processTypes"]["digest"] in dict(blobs.values())
    assert d["entrypoint"] == ["/cnb/process/worker"]
    assert "CNB_LAYERS_DIR=/layers" in d["env"]
    assert d["layerCount"] == len(app.manifest.layers)


def test_labels_a_build_does_not_set(app_image: str, tmp_path: Path) -> None:
    """rebasable=false, run-image mirrors and buildpack homepages, set on a copy."""
    app = read_app_image(app_image)
    lifecycle = app.label_json(LIFECYCLE_METADATA_LABEL)
    lifecycle["runImage"]["mirrors"] = ["mirror.test/run:bookworm"]
    build = app.label_json(BUILD_METADATA_LABEL)
    build["buildpacks"][0]["homepage"] = "https://buildpacks.test/layers"
    copy = f"oci:{tmp_path}/layout:relabelled"
    relabel(
        app_image,
        copy,
        io__buildpacks__rebasable="false",
        io__buildpacks__lifecycle__metadata=json.dumps(lifecycle),
        io__buildpacks__build__metadata=json.dumps(build),
    )
    d = inspect_json(copy)
    assert d["rebasable"] is False
    assert d["runImages"] == [
        {"name": "cnbsdk/run:bookworm", "mirror": False},
        {"name": "mirror.test/run:bookworm", "mirror": True},
    ]
    assert d["buildpacks"][0]["homepage"] == "https://buildpacks.test/layers"
    text = cnbsdk("inspect", copy).output
    assert "Rebasable: false" in text
    assert "  mirror.test/run:bookworm (mirror)" in text
    assert "e2e/layers     1.0.0    https://buildpacks.test/layers" in text
    assert REBASABLE_LABEL not in text  # the app view, not the label dump


def test_other_images_keep_the_plain_view(app_image: str) -> None:
    run = cnbsdk("inspect", "cnbsdk/run:bookworm")
    assert run.exit_code == 0, run.output
    assert "Media type:" in run.output and "History:" in run.output
    assert "Buildpacks:" not in run.output
    assert "kind" not in json.loads(cnbsdk("inspect", "--json", "cnbsdk/run:bookworm").output)
    plain = cnbsdk("inspect", "--plain", app_image)
    assert plain.exit_code == 0, plain.output
    assert f"  {LIFECYCLE_METADATA_LABEL}=" in plain.output
    assert "Processes:" not in plain.output


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("Not A Ref", "invalid image reference"),
        ("oci:/nonexistent/layout:app", "/nonexistent/layout"),
        ("no-such-image:1", "no image no-such-image:1 in the local store"),
    ],
)
def test_bad_references_are_one_line(reference: str, message: str) -> None:
    result = cnbsdk("inspect", reference)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and message in result.output
    assert result.output.count("\n") == 1


def test_a_broken_lifecycle_label_is_one_line(app_image: str, tmp_path: Path) -> None:
    broken = f"oci:{tmp_path}/layout:broken"
    relabel(app_image, broken, io__buildpacks__lifecycle__metadata='{"buildpacks": 7')
    result = cnbsdk("inspect", broken)
    assert result.exit_code == 1
    assert result.output.startswith(f"error: {LIFECYCLE_METADATA_LABEL}: is not valid JSON")
    assert result.output.count("\n") == 1
