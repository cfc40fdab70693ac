"""Buildpackages (.cnb files and images) from a package.toml composing a composite, read
back by skopeo (real binary), by our reader and by tar; labels checked against the schemas
in cnbsdk/spec/schemas; bad input refused on one line with nothing at the output.

Starts: skopeo (subprocess), the loopback docker-registry (session fixture).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli
from cnbsdk.distribution.buildpackage import (
    BUILDPACK_LAYERS_LABEL,
    BUILDPACKAGE_METADATA_LABEL,
    read_buildpackage,
)
from cnbsdk.errors import ImageError
from cnbsdk.spec.schema import load_schema
from tests.registry_server import RegistryServer

COMPOSITE = """api = "0.10"
[buildpack]
id = "examples/composite"
version = "2.0.0"
name = "Composite Example"
homepage = "https://example.invalid/composite"

[[order]]
[[order.group]]
id = "examples/first"
version = "1.0.0"
[[order.group]]
id = "examples/second"
version = "1.1.0"
optional = true
"""


def component(root: Path, name: str, version: str, *, marker: str = "") -> Path:
    directory = root / name
    (directory / "bin").mkdir(parents=True)
    (directory / "buildpack.toml").write_text(
        f'api = "0.10"\n[buildpack]\nid = "examples/{name}"\nversion = "{version}"\n'
        '[[targets]]\nos = "linux"\narch = "amd64"\n'
    )
    for phase in ("detect", "build"):
        (directory / "bin" / phase).write_text(f"#!/bin/sh\n# {name} {marker}\nexit 0\n")
        (directory / "bin" / phase).chmod(0o700)  # modes are normalised to 0755
    (directory / "data.txt").write_text(f"{name}\n")
    (directory / "data.txt").chmod(0o600)  # ... and 0644
    (directory / "helper.sh").write_text("#!/bin/sh\n")
    (directory / "helper.sh").chmod(0o744)
    return directory


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """pack's layout: package.toml beside the composite's buildpack.toml, components in dirs."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "buildpack.toml").write_text(COMPOSITE)
    component(root / "components", "first", "1.0.0")
    component(root / "components", "second", "1.1.0")
    (root / "package.toml").write_text(
        '[buildpack]\nuri = "."\n\n'
        '[[dependencies]]\nuri = "components/first"\n\n'
        '[[dependencies]]\nuri = "file://components/second"\n\n'
        '[platform]\nos = "linux"\n'
    )
    return root


def package(*args: str) -> Result:
    return CliRunner().invoke(cli, ["package", "buildpack", *args])


def skopeo_inspect(ref: str) -> dict:
    completed = subprocess.run(
        ["skopeo", "inspect", ref], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def skopeo_config(ref: str) -> dict:
    completed = subprocess.run(
        ["skopeo", "inspect", "--config", ref], capture_output=True, text=True, check=True
    )
    return json.loads(completed.stdout)


def layer_members(layout: Path, digest: str) -> list[tarfile.TarInfo]:
    blob = layout / "blobs" / "sha256" / digest.split(":")[1]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        return tar.getmembers()


def test_composite_cnb_is_read_by_skopeo_and_is_reproducible(project: Path, tmp_path: Path) -> None:
    first = tmp_path / "one.cnb"
    second = tmp_path / "two.cnb"
    for output in (first, second):
        result = package(str(project / "package.toml"), "--format", "cnb", "--output", str(output))
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()

    inspected = skopeo_inspect(f"oci-archive:{first}")
    assert f"digest: {inspected['Digest']}" in result.output
    assert inspected["Os"] == "linux" and inspected["Architecture"] == "amd64"
    assert inspected["Created"].startswith("0001-01-01T00:00:00")
    assert len(inspected["Layers"]) == 3  # one per buildpack

    metadata = json.loads(inspected["Labels"][BUILDPACKAGE_METADATA_LABEL])
    jsonschema.validate(metadata, load_schema("buildpackage-metadata"))
    assert metadata["id"] == "examples/composite" and metadata["version"] == "2.0.0"
    assert metadata["homepage"] == "https://example.invalid/composite"

    layers = json.loads(inspected["Labels"][BUILDPACK_LAYERS_LABEL])
    jsonschema.validate(layers, load_schema("buildpack-layers"))
    assert sorted(layers) == ["examples/composite", "examples/first", "examples/second"]
    composite = layers["examples/composite"]["2.0.0"]
    assert composite["order"] == [
        {
            "group": [
                {"id": "examples/first", "version": "1.0.0"},
                {"id": "examples/second", "version": "1.1.0", "optional": True},
            ]
        }
    ]
    assert layers["examples/first"]["1.0.0"]["targets"] == [{"os": "linux", "arch": "amd64"}]
    config = skopeo_config(f"oci-archive:{first}")
    diff_ids = config["rootfs"]["diff_ids"]
    label_ids = {v["layerDiffID"] for by_version in layers.values() for v in by_version.values()}
    assert set(diff_ids) == label_ids


def test_cnb_entries_are_a_tar_of_an_oci_layout_written_as_pack_does(
    project: Path, tmp_path: Path
) -> None:
    output = tmp_path / "bp.cnb"
    assert (
        package(str(project / "package.toml"), "--format", "cnb", "-o", str(output)).exit_code == 0
    )
    with tarfile.open(output) as tar:  # uncompressed: a plain tar opens it
        members = tar.getmembers()
    names = [m.name for m in members]
    assert {"/oci-layout", "/index.json", "/blobs", "/blobs/sha256"} <= set(names)
    assert all(m.uid == 0 and m.gid == 0 and m.mode == 0o755 for m in members)
    assert {m.mtime for m in members} == {315532801}


def test_buildpack_layers_have_pack_paths_owners_and_modes(project: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    result = package(
        str(project / "package.toml"), "--format", "image", "--output", f"oci:{layout}:bp"
    )
    assert result.exit_code == 0, result.output
    config = skopeo_config(f"oci:{layout}:bp")
    layers = json.loads(config["config"]["Labels"][BUILDPACK_LAYERS_LABEL])
    manifest = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", f"oci:{layout}:bp"], capture_output=True, check=True
        ).stdout
    )
    by_diff = dict(zip(config["rootfs"]["diff_ids"], manifest["layers"], strict=True))
    first = layer_members(
        layout, by_diff[layers["examples/first"]["1.0.0"]["layerDiffID"]]["digest"]
    )
    modes = {m.name: (m.mode, m.uid, m.gid, m.mtime, m.uname, m.gname) for m in first}
    root = "/cnb/buildpacks/examples_first/1.0.0"
    fixed = (0, 0, 315532801, "", "")
    assert [m.name for m in first][:2] == ["/cnb/buildpacks/examples_first", root]
    assert modes["/cnb/buildpacks/examples_first"] == (0o755, *fixed)
    assert modes[root] == (0o755, *fixed)
    assert modes[f"{root}/bin/build"] == (0o755, *fixed)
    assert modes[f"{root}/bin/detect"] == (0o755, *fixed)
    assert modes[f"{root}/helper.sh"] == (0o755, *fixed)
    assert modes[f"{root}/data.txt"] == (0o644, *fixed)
    assert modes[f"{root}/buildpack.toml"] == (0o644, *fixed)
    assert all(name.startswith("/cnb/buildpacks/examples_first") for name in modes)


def test_reads_back_every_buildpack_from_a_cnb_and_a_registry(
    project: Path, tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    cnb = tmp_path / "bp.cnb"
    ref = f"docker://{registry.host}/tests/buildpackage:1"
    for args in (("--format", "cnb", "-o", str(cnb)), ("--format", "image", "-o", ref)):
        result = package(str(project / "package.toml"), *args)
        assert result.exit_code == 0, result.output
    for source in (str(cnb), ref):
        extracted = read_buildpackage(source, into=tmp_path / f"read-{len(source)}")
        keys = sorted(bp.key for bp in extracted)
        assert keys == ["examples/composite@2.0.0", "examples/first@1.0.0", "examples/second@1.1.0"]
        first = next(bp for bp in extracted if bp.key == "examples/first@1.0.0")
        assert first.directory.name == "1.0.0"
        assert (first.directory / "data.txt").read_text() == "first\n"
        assert (first.directory / "bin" / "build").stat().st_mode & 0o111


def test_a_composite_whose_order_is_not_satisfied_fails_and_writes_nothing(
    project: Path, tmp_path: Path
) -> None:
    text = (project / "package.toml").read_text()
    (project / "package.toml").write_text(
        text.replace('[[dependencies]]\nuri = "file://components/second"\n\n', "")
    )
    output = tmp_path / "bp.cnb"
    result = package(str(project / "package.toml"), "--format", "cnb", "-o", str(output))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "composite examples/composite@2.0.0 orders examples/second@1.1.0" in result.output
    assert not output.exists()
    assert list(tmp_path.glob(".bp.cnb*")) == []


def test_same_id_and_version_with_different_content_fails(project: Path, tmp_path: Path) -> None:
    component(project / "other", "first", "1.0.0", marker="changed")
    with (project / "package.toml").open("a") as stream:
        stream.write('\n[[dependencies]]\nuri = "other/first"\n')
    layout = tmp_path / "layout"
    result = package(str(project / "package.toml"), "--format", "image", "-o", f"oci:{layout}:x")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert (
        "buildpack examples/first@1.0.0 is included twice with different content" in result.output
    )
    assert not layout.exists()


def evil_cnb(path: Path, name: str) -> None:
    with tarfile.open(path, "w") as tar:
        for entry, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), (name, b"owned")):
            info = tarfile.TarInfo(entry)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_cnb_with_a_path_traversal_entry_is_refused(project: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.cnb"
    evil_cnb(evil, "../../escaped.txt")
    into = tmp_path / "deep" / "into"
    with pytest.raises(ImageError) as caught:
        read_buildpackage(str(evil), into=into)
    assert "'..'" in str(caught.value) and str(evil) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert (
        not (tmp_path / "escaped.txt").exists() and not (tmp_path / "deep" / "escaped.txt").exists()
    )

    # and as a component of a package.toml, through the CLI
    with (project / "package.toml").open("a") as stream:
        stream.write(f'\n[[dependencies]]\nuri = "{evil}"\n')
    output = tmp_path / "out.cnb"
    result = package(str(project / "package.toml"), "--format", "cnb", "-o", str(output))
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "'..'" in result.output
    assert not output.exists()


def test_a_layer_with_a_path_traversal_entry_is_refused(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    from cnbsdk.oci.image_writer import write_image
    from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
    from cnbsdk.oci.layout import OciLayoutDestination
    from cnbsdk.oci.models import ImageConfig

    layer = write_layer_from_entries(
        [TarEntry.file("/cnb/buildpacks/x/1.0.0/buildpack.toml", b'api = "0.10"')], tmp_path / "l"
    )
    # rewrite the tar with a '..' name behind the layer writer's back
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("cnb/../../../escaped.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"owned"))
    evil = tmp_path / "evil.tar"
    evil.write_bytes(raw.getvalue())
    import hashlib

    digest = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    bad = type(layer)(
        evil, digest, len(raw.getvalue()), digest, "application/vnd.oci.image.layer.v1.tar"
    )
    labels = {
        BUILDPACKAGE_METADATA_LABEL: json.dumps({"id": "x", "version": "1.0.0"}),
        BUILDPACK_LAYERS_LABEL: json.dumps(
            {"x": {"1.0.0": {"api": "0.10", "layerDiffID": digest}}}
        ),
    }
    write_image(OciLayoutDestination(layout, tag="evil"), ImageConfig(labels=labels), [bad])
    into = tmp_path / "a" / "b" / "into"
    with pytest.raises(ImageError, match=r"'\.\.'"):
        read_buildpackage(f"oci:{layout}:evil", into=into)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "a" / "escaped.txt").exists()


def test_dir_format_refuses_a_package_toml(project: Path, tmp_path: Path) -> None:
    result = package(str(project / "package.toml"), "--format", "dir", "-o", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "use --format cnb or --format image" in result.output
    assert not (tmp_path / "o").exists()
