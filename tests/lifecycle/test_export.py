"""The export phase (cnbsdk.lifecycle.export) on a hand-made layers dir and a tiny run image.

Images go to OCI layouts on disk; skopeo (the real one) reads one back. The previous image
of a rebuild is read with ``analyze.read_previous_image`` and the cache is a real
``VolumeCache``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import cnbsdk.lifecycle.export as export_module
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.analyze import read_previous_image
from cnbsdk.lifecycle.app_slices import go_glob
from cnbsdk.lifecycle.cache import VolumeCache
from cnbsdk.lifecycle.export import ExportReport, export
from cnbsdk.lifecycle.layer_fingerprint import layer_parents, remember_extracted, workspace_index
from cnbsdk.lifecycle.report import ReportToml
from cnbsdk.lifecycle.workspace import PLATFORM_API, Workspace
from cnbsdk.oci.created import resolve_created
from cnbsdk.oci.extract import extract_layer
from cnbsdk.oci.image import read_image, resolve_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import (
    NORMALIZED_MTIME,
    TarEntry,
    write_layer_from_dir,
    write_layer_from_entries,
)
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion, ProcessType
from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    PROJECT_METADATA_LABEL,
    BuildMetadata,
    LifecycleMetadata,
    ProjectMetadata,
    ProjectSource,
)
from cnbsdk.spec.launch_toml import Label, Slice
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.metadata_toml import MetadataBuildpack, MetadataProcess, MetadataToml
from cnbsdk.spec.store_toml import StoreToml

UID, GID = 1000, 1001
NODE = "example/node"
OTHER = "example/other"
RUN_LABELS = {
    "io.buildpacks.rebasable": "true",
    "io.buildpacks.stack.id": "example.stack",
    "io.buildpacks.base.distro.name": "debian",
}


@dataclass(frozen=True)
class Outcome:
    """The part of build.BuildOutcome that export reads."""

    metadata: MetadataToml


@pytest.fixture(scope="module")
def run_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A two-layer run image with a PATH, a user and base labels, in an OCI layout."""
    root = tmp_path_factory.mktemp("run")
    blobs = root / "blobs"
    layers = [
        write_layer_from_entries(
            [TarEntry.dir("/etc"), TarEntry.file("/etc/os-release", b"ID=debian\n")],
            blobs,
        ),
        write_layer_from_entries([TarEntry.dir("/home/cnb", uid=1002, gid=1002)], blobs),
    ]
    config = ImageConfig(
        env=("PATH=/usr/local/bin:/usr/bin:/bin", "CNB_USER_ID=1002"),
        user="1002:1002",
        labels=RUN_LABELS,
    )
    ref = f"oci:{root / 'layout'}:run"
    dest = open_destination(ref)
    try:
        write_image(dest, config, layers)
    finally:
        dest.close()
    return ref


def layer_toml(
    path: Path,
    *,
    launch: bool = False,
    build: bool = False,
    cache: bool = False,
    **metadata: object,
) -> None:
    LayerContentMetadata(
        types=LayerTypes(launch=launch, build=build, cache=cache), metadata=dict(metadata)
    ).write(path)


def make_workspace(
    root: Path, *, slices: tuple[Slice, ...] = (), processes: bool = True
) -> Workspace:
    """Two buildpacks' layers, an SBOM, an app and metadata.toml, as the build phase leaves them."""
    ws = Workspace.create(root)
    (ws.app / "static" / "sub").mkdir(parents=True)
    (ws.app / "index.js").write_text("console.log('hi')\n")
    (ws.app / "static" / "a.css").write_text("a{}\n")
    (ws.app / "static" / "sub" / "b.js").write_text("b()\n")
    node = ws.layers / "example_node"
    (node / "node" / "bin").mkdir(parents=True)
    (node / "node" / "bin" / "node").write_bytes(b"\x7fELF fake node\n" * 100)
    (node / "node" / "bin" / "node").chmod(0o755)
    layer_toml(node / "node.toml", launch=True, cache=True, version="18.1.0")
    (node / "modules" / "lib").mkdir(parents=True)
    (node / "modules" / "lib" / "x.js").write_text("x\n")
    os.symlink("lib/x.js", node / "modules" / "link.js")
    layer_toml(node / "modules.toml", launch=True, lock="abc")
    (node / "tools").mkdir()
    (node / "tools" / "t").write_text("build only\n")
    layer_toml(node / "tools.toml", build=True)
    (node / "npm-cache").mkdir()
    (node / "npm-cache" / "c").write_text("cached\n")
    layer_toml(node / "npm-cache.toml", cache=True)
    StoreToml(metadata={"runs": 1}).write(node / "store.toml")
    other = ws.layers / "example_other"
    (other / "conf").mkdir(parents=True)
    (other / "conf" / "a.conf").write_text("a=1\n")
    layer_toml(other / "conf.toml", launch=True)
    sbom = ws.layers / "sbom" / "launch" / "example_node" / "node"
    sbom.mkdir(parents=True)
    (sbom / "sbom.cdx.json").write_text('{"bomFormat":"CycloneDX"}\n')
    process_list = (
        (
            MetadataProcess(ProcessType("web"), ("node", "index.js"), BuildpackId(NODE)),
            MetadataProcess(
                ProcessType("worker"), ("node", "w.js"), BuildpackId(OTHER), args=("-v",)
            ),
        )
        if processes
        else ()
    )
    metadata = MetadataToml(
        buildpacks=(
            MetadataBuildpack(
                BuildpackId(NODE),
                BuildpackVersion("1.0.0"),
                ApiVersion(0, 10),
                "https://node.invalid",
            ),
            MetadataBuildpack(BuildpackId(OTHER), BuildpackVersion("2.0.0"), ApiVersion(0, 10)),
        ),
        processes=process_list,
        labels=(
            Label("com.example.a", "1"),
            Label("com.example.b", "2"),
            Label("com.example.a", "3"),
        ),
        slices=slices,
        buildpack_default_process_type="web" if processes else "",
    )
    (ws.layers / "config").mkdir()
    metadata.write(ws.layers / "config" / "metadata.toml")
    return ws


@pytest.fixture()
def launcher(tmp_path: Path) -> Path:
    path = tmp_path / "launcher-bin"
    path.write_bytes(b"#!/bin/sh\necho launcher\n")
    path.chmod(0o700)
    return path


def run_export(
    ws: Workspace, run_image: str, image: str, launcher: Path, **kwargs: object
) -> tuple[ExportReport, list[str]]:
    lines: list[str] = []
    metadata = MetadataToml.read(ws.layers / "config" / "metadata.toml")
    options: dict[str, object] = {"previous": None, "cache": None}
    options.update(kwargs)
    report = export(
        ws,
        Outcome(metadata),
        run_image=run_image,
        image=image,
        launcher=launcher,
        uid=UID,
        gid=GID,
        log=lines.append,
        **options,  # type: ignore[arg-type]
    )
    return report, lines


def image_of(ref: str) -> tuple[Manifest, ImageConfig]:
    source = open_source(ref)
    try:
        return read_image(source)
    finally:
        source.close()


def layer_members(ref: str, index: int) -> list[tarfile.TarInfo]:
    """The tar entries of layer ``index`` (negative counts from the top)."""
    manifest, _ = image_of(ref)
    layout = OciLayout(ref.split(":")[1])
    with tarfile.open(layout.blob_path(manifest.layers[index].digest)) as tar:
        return tar.getmembers()


def by_name(members: list[tarfile.TarInfo]) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for m in members}


# -- composition ---------------------------------------------------------------------------


def test_layers_are_stacked_in_the_lifecycle_order(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    report, lines = run_export(ws, run_image, image, launcher)
    manifest, config = image_of(image)
    assert (
        len(manifest.layers) == 2 + 8
    )  # run (2) + modules, node, conf, sbom, app, launcher, config, process-types
    created_by = [h.created_by for h in config.history][2:]
    assert created_by == [
        "Layer: 'modules', Created by buildpack: example/node@1.0.0",
        "Layer: 'node', Created by buildpack: example/node@1.0.0",
        "Layer: 'conf', Created by buildpack: example/other@2.0.0",
        "Software Bill-of-Materials",
        "Application Layer",
        "Buildpacks Application Launcher",
        "Buildpacks Launcher Config",
        "Buildpacks Process Types",
    ]
    first_paths = [sorted(m.name for m in layer_members(image, i)) for i in range(2, 10)]
    assert "/layers/example_node/modules/lib/x.js" in first_paths[0]
    assert "/layers/example_node/node/bin/node" in first_paths[1]
    assert "/layers/example_other/conf/a.conf" in first_paths[2]
    assert "/layers/sbom/launch/example_node/node/sbom.cdx.json" in first_paths[3]
    assert "/workspace/static/sub/b.js" in first_paths[4]
    assert first_paths[5] == ["/cnb", "/cnb/lifecycle", "/cnb/lifecycle/launcher"]
    assert first_paths[6] == ["/layers", "/layers/config", "/layers/config/metadata.toml"]
    assert first_paths[7] == ["/cnb", "/cnb/process", "/cnb/process/web", "/cnb/process/worker"]
    # build-only and cache-only layers are not in the image
    assert not any("tools" in p or "npm-cache" in p for paths in first_paths for p in paths)
    assert report.layers_added == (
        "example/node:modules",
        "example/node:node",
        "example/other:conf",
        "buildpacksio/lifecycle:launch.sbom",
        "buildpacksio/lifecycle:launcher",
        "buildpacksio/lifecycle:config",
        "buildpacksio/lifecycle:process-types",
    )
    assert "Adding layer 'example/node:modules'" in lines
    assert "Added 1/1 app layer(s)" in lines
    assert "Adding layer 'buildpacksio/lifecycle:launcher'" in lines
    assert "Adding label 'io.buildpacks.lifecycle.metadata'" in lines
    assert "Setting default process type 'web'" in lines
    assert f"*** Images ({report.digest}):" in lines
    # every layer is an uncompressed reproducible tar: its digest is its diffID
    assert [d.digest for d in manifest.layers[2:]] == list(config.diff_ids[2:])


def test_layer_tar_owners_modes_and_mtimes(tmp_path: Path, run_image: str, launcher: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    os.chown(ws.layers, 0, 0)
    ws.layers.chmod(0o750)
    image = f"oci:{tmp_path / 'out'}:app"
    run_export(ws, run_image, image, launcher)
    modules = by_name(layer_members(image, 2))
    assert list(modules) == [
        "/layers",
        "/layers/example_node",
        "/layers/example_node/modules",
        "/layers/example_node/modules/lib",
        "/layers/example_node/modules/lib/x.js",
        "/layers/example_node/modules/link.js",
    ]
    # Parents are 0755 and owned by the CNB user whatever the host has (here root, 0750):
    # the image must not depend on the host's umask or user.
    for parent in ("/layers", "/layers/example_node"):
        entry = modules[parent]
        assert (entry.uid, entry.gid, entry.mode) == (UID, GID, 0o755), parent
    for name in list(modules)[2:]:
        assert (modules[name].uid, modules[name].gid) == (UID, GID), name
    assert modules["/layers/example_node/modules/link.js"].issym()
    assert modules["/layers/example_node/modules/link.js"].linkname == "lib/x.js"
    node = by_name(layer_members(image, 3))
    assert node["/layers/example_node/node/bin/node"].mode == 0o755
    for index in range(2, 10):
        for member in layer_members(image, index):
            assert member.mtime == NORMALIZED_MTIME
            assert member.uname == member.gname == ""
    launcher_layer = by_name(layer_members(image, -3))
    entry = launcher_layer["/cnb/lifecycle/launcher"]
    assert (entry.mode, entry.uid, entry.gid) == (0o755, 0, 0)
    assert launcher_layer["/cnb/lifecycle"].mode == 0o755
    config_layer = by_name(layer_members(image, -2))
    assert (
        config_layer["/layers/config/metadata.toml"].uid,
        config_layer["/layers/config"].gid,
    ) == (UID, GID)
    process_layer = by_name(layer_members(image, -1))
    web = process_layer["/cnb/process/web"]
    assert web.issym() and web.linkname == "/cnb/lifecycle/launcher"
    assert (process_layer["/cnb/process"].uid, process_layer["/cnb/process"].mode) == (0, 0o755)
    app = by_name(layer_members(image, 6))
    assert (app["/workspace"].uid, app["/workspace/index.js"].gid) == (UID, GID)


def test_config_labels_entrypoint_and_env(tmp_path: Path, run_image: str, launcher: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    project = ProjectMetadata(ProjectSource("git", {"commit": "abc"}, {"repository": "r"}))
    report, _ = run_export(ws, run_image, image, launcher, project_metadata=project)
    _manifest, config = image_of(image)
    assert config.entrypoint == ("/cnb/process/web",)
    assert config.cmd == ()
    assert config.working_dir == "/workspace"
    assert config.user == "1002:1002"
    env = config.env_dict()
    assert env["CNB_LAYERS_DIR"] == "/layers"
    assert env["CNB_APP_DIR"] == "/workspace"
    assert env["CNB_PLATFORM_API"] == PLATFORM_API
    assert env["CNB_DEPRECATION_MODE"] == "quiet"
    assert env["PATH"] == "/cnb/process:/cnb/lifecycle:/usr/local/bin:/usr/bin:/bin"
    assert env["CNB_USER_ID"] == "1002"
    assert config.created == "1980-01-01T00:00:01Z"
    labels = config.labels
    for key, value in RUN_LABELS.items():
        assert labels[key] == value  # inherited, rebasable never forced to false
    assert labels["com.example.a"] == "3" and labels["com.example.b"] == "2"
    assert json.loads(labels[PROJECT_METADATA_LABEL]) == {
        "source": {"type": "git", "version": {"commit": "abc"}, "metadata": {"repository": "r"}}
    }
    lifecycle = json.loads(labels[LIFECYCLE_METADATA_LABEL])
    diff_ids = config.diff_ids
    assert lifecycle["runImage"]["topLayer"] == diff_ids[1]
    run_source = open_source(run_image)
    assert lifecycle["runImage"]["reference"] == resolve_image(run_source).digest
    run_source.close()
    assert lifecycle["runImage"]["image"] == run_image
    assert lifecycle["stack"] == {"runImage": {"image": run_image}}
    assert lifecycle["app"] == [{"sha": diff_ids[6]}]
    assert lifecycle["sbom"] == {"sha": diff_ids[5]}
    assert lifecycle["launcher"] == {"sha": diff_ids[7]}
    assert lifecycle["config"] == {"sha": diff_ids[8]}
    assert lifecycle["process-types"] == {"sha": diff_ids[9]}
    node_entry = lifecycle["buildpacks"][0]
    assert node_entry["key"] == NODE and node_entry["version"] == "1.0.0"
    assert node_entry["layers"] == {
        "modules": {
            "sha": diff_ids[2],
            "data": {"lock": "abc"},
            "build": False,
            "launch": True,
            "cache": False,
        },
        "node": {
            "sha": diff_ids[3],
            "data": {"version": "18.1.0"},
            "build": False,
            "launch": True,
            "cache": True,
        },
    }
    assert node_entry["store"] == {"metadata": {"runs": 1}}
    assert lifecycle["buildpacks"][1]["layers"]["conf"]["sha"] == diff_ids[4]
    LifecycleMetadata.from_json(labels[LIFECYCLE_METADATA_LABEL])  # validates against the schema
    build = BuildMetadata.from_json(labels[BUILD_METADATA_LABEL])
    assert [(b.id, b.version, b.homepage) for b in build.buildpacks] == [
        (NODE, "1.0.0", "https://node.invalid"),
        (OTHER, "2.0.0", ""),
    ]
    assert [(p.type, p.command, p.args, p.buildpack_id) for p in build.processes] == [
        ("web", ("node", "index.js"), (), NODE),
        ("worker", ("node", "w.js"), ("-v",), OTHER),
    ]
    assert build.default_process == "web"
    assert build.launcher.version
    assert "api" not in json.loads(labels[BUILD_METADATA_LABEL])["buildpacks"][0]
    report_toml = ReportToml.read(ws.layers / "report.toml")
    assert report_toml.image.tags == (image,)
    assert report_toml.image.digest == report.digest
    assert report_toml.image.manifest_size == len(open_source(image).get_manifest()[0]) > 0
    assert "manifest-size = " in (ws.layers / "report.toml").read_text()


def test_default_process_flag_and_no_processes(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    _, lines = run_export(ws, run_image, image, launcher, default_process="worker")
    assert image_of(image)[1].entrypoint == ("/cnb/process/worker",)
    assert "Setting default process type 'worker'" in lines
    with pytest.raises(BuildError, match="default process type 'db' is not defined") as caught:
        run_export(ws, run_image, f"oci:{tmp_path / 'missing'}:app", launcher, default_process="db")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "missing").exists()

    bare = make_workspace(tmp_path / "bare", processes=False)
    image = f"oci:{tmp_path / 'bare-out'}:app"
    _, lines = run_export(bare, run_image, image, launcher)
    _manifest, config = image_of(image)
    assert config.entrypoint == ("/cnb/lifecycle/launcher",)
    assert "Buildpacks Process Types" not in [h.created_by for h in config.history]
    assert "process-types" not in json.loads(config.labels[LIFECYCLE_METADATA_LABEL])
    assert json.loads(config.labels[BUILD_METADATA_LABEL])["processes"] == []


def test_creation_time_from_flag_or_source_date_epoch(
    tmp_path: Path, run_image: str, launcher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_created(None, {}) == "1980-01-01T00:00:01Z"
    assert resolve_created(None, {"SOURCE_DATE_EPOCH": "1700000000"}) == "2023-11-14T22:13:20Z"
    assert resolve_created("2024-01-02T03:04:05+01:00", {}) == "2024-01-02T02:04:05Z"
    with pytest.raises(BuildError, match="creation-time"):
        resolve_created("yesterday", {})
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    run_export(ws, run_image, image, launcher)
    config = image_of(image)[1]
    assert config.created == "2023-11-14T22:13:20Z"
    assert {h.created for h in config.history[2:]} == {"2023-11-14T22:13:20Z"}


def test_same_inputs_give_the_same_digest(tmp_path: Path, run_image: str, launcher: Path) -> None:
    first, _ = run_export(
        make_workspace(tmp_path / "a"), run_image, f"oci:{tmp_path / 'one'}:app", launcher
    )
    second, _ = run_export(
        make_workspace(tmp_path / "b"), run_image, f"oci:{tmp_path / 'two'}:app", launcher
    )
    assert first.digest == second.digest
    (tmp_path / "b" / "workspace" / "index.js").write_text("changed\n")
    third, _ = run_export(
        Workspace(tmp_path / "b"), run_image, f"oci:{tmp_path / 'three'}:app", launcher
    )
    assert third.digest != first.digest


def test_skopeo_reads_the_exported_image(tmp_path: Path, run_image: str, launcher: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    report, _ = run_export(ws, run_image, f"oci:{tmp_path / 'out'}:app", launcher)
    result = subprocess.run(
        ["skopeo", "inspect", f"oci:{tmp_path / 'out'}:app"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(result.stdout)
    assert data["Digest"] == report.digest
    assert len(data["Layers"]) == 10
    assert data["Labels"]["io.buildpacks.rebasable"] == "true"
    assert LIFECYCLE_METADATA_LABEL in data["Labels"]


# -- rebuilds ------------------------------------------------------------------------------


class TarCounter:
    """Counts directory tars written by export (wraps the real writer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.prefixes: list[str] = []
        real = export_module.write_layer_from_dir

        def counting(src: Path, out_dir: Path, **kwargs: object):  # type: ignore[no-untyped-def]
            self.prefixes.append(str(kwargs.get("prefix")))
            return real(src, out_dir, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(export_module, "write_layer_from_dir", counting)


def test_rebuild_reuses_unchanged_layers_without_tarring_them(
    tmp_path: Path, run_image: str, launcher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    first, _ = run_export(ws, run_image, image, launcher)
    counter = TarCounter(monkeypatch)
    previous = read_previous_image(image)
    assert previous is not None
    second, lines = run_export(ws, run_image, image, launcher, previous=previous)
    assert second.digest == first.digest
    for name in ("example/node:modules", "example/node:node", "example/other:conf"):
        assert f"Reusing layer '{name}'" in lines
    assert "Reused 1/1 app layer(s)" in lines
    assert "Reusing layer 'buildpacksio/lifecycle:launcher'" in lines
    # no buildpack layer was tarred again; only the config layer (small, always written)
    assert [p for p in counter.prefixes if p.startswith("/layers/example_")] == []
    assert set(second.layers_reused) >= {
        "example/node:modules",
        "example/node:node",
        "example/other:conf",
    }

    # a changed layer is tarred and added; the others stay reused
    (ws.layers / "example_other" / "conf" / "a.conf").write_text("a=2\n")
    counter.prefixes.clear()
    third, lines = run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    assert "Adding layer 'example/other:conf'" in lines
    assert "Reusing layer 'example/node:node'" in lines
    assert [p for p in counter.prefixes if p.startswith("/layers/example_")] == [
        "/layers/example_other/conf"
    ]
    assert third.digest != first.digest


def test_rebuild_in_a_fresh_workspace_reuses_by_diff_id(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    image = f"oci:{tmp_path / 'out'}:app"
    first, _ = run_export(make_workspace(tmp_path / "a"), run_image, image, launcher)
    ws = make_workspace(tmp_path / "b")
    (ws.app / "index.js").write_text("changed\n")
    second, lines = run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    assert "Reusing layer 'example/node:node'" in lines
    assert "Added 1/1 app layer(s)" in lines
    assert second.app_layers_reused == 0
    assert second.digest != first.digest


def test_previous_image_elsewhere_has_its_reused_blobs_copied(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    old = f"oci:{tmp_path / 'old'}:app"
    run_export(ws, run_image, old, launcher)
    shutil.rmtree(ws.layers / "example_node" / "modules")  # toml only: must come from the old image
    new = f"oci:{tmp_path / 'new'}:app"
    _report, lines = run_export(ws, run_image, new, launcher, previous=read_previous_image(old))
    assert "Reusing layer 'example/node:modules'" in lines
    result = subprocess.run(["skopeo", "inspect", new], capture_output=True, text=True, check=True)
    assert len(json.loads(result.stdout)["Layers"]) == 10
    manifest, _ = image_of(new)
    layout = OciLayout(str(tmp_path / "new"))
    assert all(layout.has_blob(d.digest) for d in manifest.layers)


def test_toml_without_directory(tmp_path: Path, run_image: str, launcher: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    image = f"oci:{tmp_path / 'out'}:app"
    first, _ = run_export(ws, run_image, image, launcher)
    shutil.rmtree(ws.layers / "example_node" / "modules")
    report, lines = run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    assert "Reusing layer 'example/node:modules'" in lines
    assert report.digest == first.digest

    # no previous image: nothing to reuse
    with pytest.raises(BuildError) as caught:
        run_export(ws, run_image, f"oci:{tmp_path / 'none'}:app", launcher)
    message = str(caught.value)
    assert "modules.toml" in message and "example/node:modules" in message and "\n" not in message
    assert not (tmp_path / "none").exists()

    # cache=true with no directory is an error even with a previous image
    layer_toml(ws.layers / "example_node" / "modules.toml", launch=True, cache=True)
    with pytest.raises(BuildError, match="cache=true but has no contents"):
        run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    assert image_of(image)[0].config.digest  # the previous image is untouched
    assert open_source(image).get_manifest()[0]


def test_malformed_layer_toml_names_buildpack_and_file(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    ws = make_workspace(tmp_path / "ws")
    (ws.layers / "example_other" / "conf.toml").write_text("[types]\nlaunch = 'yes'\n")
    with pytest.raises(BuildError) as caught:
        run_export(ws, run_image, f"oci:{tmp_path / 'out'}:app", launcher)
    message = str(caught.value)
    assert "conf.toml" in message and "example/other" in message and "types.launch" in message
    assert not (tmp_path / "out").exists()


# -- slices --------------------------------------------------------------------------------


def test_go_glob_matches_like_filepath_match() -> None:
    assert go_glob("static/*").match("static/a.css")
    assert not go_glob("*.css").match("static/a.css")
    assert go_glob("static/?.css").match("static/a.css")
    assert go_glob("[a-c].js").match("b.js") and not go_glob("[^a-c].js").match("b.js")
    assert go_glob("a\\*b").match("a*b") and not go_glob("a\\*b").match("axb")
    with pytest.raises(BuildError, match="unclosed"):
        go_glob("[abc")


def test_slices_become_app_layers_earlier_slices_first(
    tmp_path: Path, run_image: str, launcher: Path
) -> None:
    slices = (Slice(("static/sub",)), Slice(("static/*",)), Slice(("nothing-*",)))
    ws = make_workspace(tmp_path / "ws", slices=slices)
    image = f"oci:{tmp_path / 'out'}:app"
    report, lines = run_export(ws, run_image, image, launcher)
    assert report.app_layers == 4
    assert "Added 4/4 app layer(s)" in lines
    config = image_of(image)[1]
    assert [h.created_by for h in config.history][6:10] == [
        f"Application Slice: {n}" for n in (1, 2, 3, 4)
    ]
    first = [m.name for m in layer_members(image, 6)]
    second = [m.name for m in layer_members(image, 7)]
    empty = [m.name for m in layer_members(image, 8)]
    rest = [m.name for m in layer_members(image, 9)]
    assert first == [
        "/workspace",
        "/workspace/static",
        "/workspace/static/sub",
        "/workspace/static/sub/b.js",
    ]
    assert second == ["/workspace", "/workspace/static", "/workspace/static/a.css"]
    assert empty == ["/workspace"]
    assert rest == ["/workspace", "/workspace/index.js", "/workspace/static"]
    lifecycle = json.loads(config.labels[LIFECYCLE_METADATA_LABEL])
    assert [a["sha"] for a in lifecycle["app"]] == list(config.diff_ids[6:10])

    (ws.app / "index.js").write_text("changed\n")
    again, lines = run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    assert "Reused 3/4 app layer(s)" in lines and "Added 1/4 app layer(s)" in lines
    assert again.app_layers_reused == 3


# -- cache ---------------------------------------------------------------------------------


def test_cache_gets_cache_layers_and_launch_cache_layers_are_tarred_once(
    tmp_path: Path, run_image: str, launcher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = make_workspace(tmp_path / "ws")
    (ws.layers / "sbom" / "cache").mkdir()
    (ws.layers / "sbom" / "cache" / "x.sbom.cdx.json").write_text("{}\n")
    counter = TarCounter(monkeypatch)
    image = f"oci:{tmp_path / 'out'}:app"
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        report, lines = run_export(ws, run_image, image, launcher, cache=writer)
        assert report.cache_metadata is not None
        writer.commit(report.cache_metadata)
        metadata = cache.metadata()
    assert counter.prefixes.count("/layers/example_node/node") == 1  # image and cache share one tar
    node = metadata.layer(NODE, "node")
    npm = metadata.layer(NODE, "npm-cache")
    assert node is not None and node.launch and node.cache and node.data == {"version": "18.1.0"}
    assert npm is not None and npm.cache and not npm.launch
    assert metadata.layer(NODE, "modules") is None and metadata.layer(NODE, "tools") is None
    assert metadata.sbom
    lifecycle = LifecycleMetadata.from_json(image_of(image)[1].labels[LIFECYCLE_METADATA_LABEL])
    assert node.sha == lifecycle.layer(NODE, "node").sha  # type: ignore[union-attr]
    assert "npm-cache" not in lifecycle.buildpack(NODE).layers  # type: ignore[union-attr]
    committed = tmp_path / "cache" / "committed"
    assert (committed / f"{node.sha}.tar").is_file() and (committed / f"{npm.sha}.tar").is_file()
    assert "Adding cache layer 'example/node:npm-cache'" in lines

    # a rebuild with the same layers reuses the committed tars: nothing is tarred again
    counter.prefixes.clear()
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        report, lines = run_export(
            ws, run_image, image, launcher, cache=writer, previous=read_previous_image(image)
        )
        writer.commit(report.cache_metadata)  # type: ignore[arg-type]
        again = cache.metadata()
    assert [p for p in counter.prefixes if p.startswith("/layers/example_") or "sbom" in p] == []
    assert "Reusing cache layer 'example/node:npm-cache'" in lines
    assert again == metadata


def test_layer_restored_from_cache_is_reused_without_tarring(
    tmp_path: Path, run_image: str, launcher: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What restore does (extract the cached tar, remember its fingerprint) lets export
    reuse the layer in a fresh workspace without reading it."""
    image = f"oci:{tmp_path / 'out'}:app"
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        report, _ = run_export(
            make_workspace(tmp_path / "a"), run_image, image, launcher, cache=writer
        )
        writer.commit(report.cache_metadata)  # type: ignore[arg-type]
        sha = cache.metadata().layer(NODE, "node").sha  # type: ignore[union-attr]
        tar = cache.layer_tar(sha)
    assert tar is not None
    ws = make_workspace(tmp_path / "b")
    target = ws.layers / "example_node" / "node"
    shutil.rmtree(target)
    extract_layer(tar, tmp_path / "extracted")
    os.rename(tmp_path / "extracted" / "layers" / "example_node" / "node", target)
    prefix = "/layers/example_node/node"
    parents = layer_parents("/layers", "/layers/example_node", uid=UID, gid=GID)
    # extracting then tarring again gives the same bytes: the premise of remembering
    assert (
        write_layer_from_dir(
            target,
            tmp_path / "check",
            prefix=prefix,
            uid=UID,
            gid=GID,
            parents=parents,
            compress=False,
        ).diff_id
        == sha
    )
    index = workspace_index(ws.root)
    assert not remember_extracted(
        index, target, tar, sha, prefix=prefix, uid=UID + 1, gid=GID, parents=parents
    )
    assert remember_extracted(
        index, target, tar, sha, prefix=prefix, uid=UID, gid=GID, parents=parents
    )
    index.save()
    counter = TarCounter(monkeypatch)
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        report, lines = run_export(
            ws, run_image, image, launcher, cache=writer, previous=read_previous_image(image)
        )
        writer.commit(report.cache_metadata)  # type: ignore[arg-type]
    assert "Reusing layer 'example/node:node'" in lines
    assert prefix not in counter.prefixes

    # without a previous image the committed cache tar itself becomes the image layer
    counter.prefixes.clear()
    with VolumeCache(tmp_path / "cache") as cache:
        writer = cache.begin()
        report, lines = run_export(
            ws, run_image, f"oci:{tmp_path / 'fresh'}:app", launcher, cache=writer
        )
        writer.abort()
    assert "Adding layer 'example/node:node'" in lines
    assert prefix not in counter.prefixes
    assert report.lifecycle_metadata.layer(NODE, "node").sha == sha  # type: ignore[union-attr]


def test_registry_export_and_rebuild_uploads_nothing_unchanged(
    tmp_path: Path,
    run_image: str,
    launcher: Path,
    registry,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    """Against the real docker-registry on loopback: a rebuild with nothing changed sends
    no blob, only the manifest."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    ws = make_workspace(tmp_path / "ws")
    image = f"{registry.host}/export-test/app:latest"
    first, _ = run_export(ws, run_image, image, launcher)
    mark = registry.log_mark()
    second, lines = run_export(ws, run_image, image, launcher, previous=read_previous_image(image))
    uploads = [r for r in registry.requests(since=mark) if "/blobs/uploads" in r.path]
    assert uploads == []
    assert second.digest == first.digest
    assert "Reusing layer 'example/node:node'" in lines
    assert ReportToml.read(ws.layers / "report.toml").image.digest == first.digest
