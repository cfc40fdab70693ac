"""``cnbsdk sbom REF --output-dir DIR``: the launch SBOMs, from one layer blob.

Starts: bubblewrap (``cnbsdk build`` with the e2e fixture buildpack "layers", which writes
launch SBOMs, once for this module) and the real docker-registry on loopback
(tests/registry_server.py), whose access log counts the blobs a pull reads.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import DIR, SYMLINK, TarEntry, write_layer_from_entries
from cnbsdk.oci.open import open_destination, open_source
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL
from tests.lifecycle.e2e.conftest import (  # noqa: F401 (e2e_home is a fixture)
    BUILDPACKS,
    build_args,
    cnbsdk,
    e2e_home,
    read_app_image,
)
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.usefixtures("e2e_home")

# What the "layers" fixture buildpack writes as every SBOM (plus echo's newline).
FIXTURE_SBOM = '{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[]}\n'
EXPECTED_FILES = [
    "layers/sbom/launch/e2e_layers/launch-layer/sbom.cdx.json",
    "layers/sbom/launch/e2e_layers/sbom.cdx.json",
]


def build(root: Path, *buildpacks: str) -> str:
    app = root / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hello\n")
    image = f"oci:{root}/layout:app"
    result = cnbsdk(*build_args(app, image, root / "cache", *buildpacks))
    assert result.exit_code == 0, result.output
    return image


@pytest.fixture(scope="module")
def app_image(e2e_home: Any, tmp_path_factory: pytest.TempPathFactory) -> str:  # noqa: F811
    assert (BUILDPACKS / "layers").is_dir()
    return build(tmp_path_factory.mktemp("sbom-app"), "layers", "processes")


def files_under(directory: Path) -> list[str]:
    return sorted(
        p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir()
    )


def with_sbom_layer(source_ref: str, dest_ref: str, entries: list[TarEntry], work: Path) -> None:
    """A copy of an app image with one more layer that its label names as the SBOM layer."""
    layer = write_layer_from_entries(entries, work)
    source = open_source(source_ref)
    try:
        manifest, config = read_image(source)
        metadata = json.loads(config.labels[LIFECYCLE_METADATA_LABEL])
        metadata["sbom"] = {"sha": layer.diff_id}
        labels = {**config.labels, LIFECYCLE_METADATA_LABEL: json.dumps(metadata)}
        dest = open_destination(dest_ref)
        try:
            write_image(dest, replace(config, labels=labels), [layer], base=(source, manifest))
        finally:
            dest.close()
    finally:
        source.close()


def test_extracts_the_launch_sboms_from_an_oci_layout(app_image: str, tmp_path: Path) -> None:
    out = tmp_path / "sboms"
    result = cnbsdk("sbom", app_image, "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    assert files_under(out) == EXPECTED_FILES  # and no temporary directory is left
    for name in EXPECTED_FILES:
        assert (out / name).read_text() == FIXTURE_SBOM
    sbom_sha = read_app_image(app_image).lifecycle.sbom
    assert f"Extracted 2 SBOM file(s) from layer {sbom_sha}" in result.output
    assert str(out / EXPECTED_FILES[0]) in result.output


def test_reads_one_layer_blob_from_a_registry(
    app_image: str, registry: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    remote = f"{registry.host}/sbom-extract/app:1"
    pushed = cnbsdk("copy", app_image, remote)
    assert pushed.exit_code == 0, pushed.output
    app = read_app_image(remote)  # its layers were gzipped on the way (cnbsdk copy)
    sbom_blob = app.manifest.layers[app.config.diff_ids.index(app.lifecycle.sbom)].digest
    assert len(app.manifest.layers) > 10  # reading "only one layer" means something here

    mark = registry.log_mark()
    result = cnbsdk("sbom", remote, "--output-dir", str(tmp_path / "sboms"))
    assert result.exit_code == 0, result.output
    served = [r for r in registry.requests(since=mark) if r.status == 200]
    blob_gets = [r.path for r in served if r.method == "GET" and "/blobs/" in r.path]
    assert sorted(blob_gets) == sorted(
        f"/v2/sbom-extract/app/blobs/{digest}" for digest in (app.manifest.config.digest, sbom_blob)
    )
    assert [r.method for r in served if "/manifests/" in r.path] == ["GET"]
    assert files_under(tmp_path / "sboms") == EXPECTED_FILES


def test_an_image_without_launch_sboms_is_one_line(tmp_path: Path) -> None:
    image = build(tmp_path, "processes")
    out = tmp_path / "sboms"
    result = cnbsdk("sbom", image, "--output-dir", str(out))
    assert result.exit_code == 1
    assert result.output == (
        f"error: {image}: {LIFECYCLE_METADATA_LABEL} sbom.sha: the image has no launch SBOM "
        "layer (the buildpacks wrote no launch SBOM)\n"
    )
    assert not out.exists()  # the directory it would have made is not left behind


def test_other_bad_input_is_one_line_and_writes_nothing(app_image: str, tmp_path: Path) -> None:
    out = tmp_path / "sboms"
    not_app = cnbsdk("sbom", "cnbsdk/run:bookworm", "--output-dir", str(out))
    assert not_app.exit_code == 1
    assert not_app.output.startswith("error: cnbsdk/run:bookworm: not an app image")
    missing = cnbsdk("sbom", "oci:/nonexistent/layout:app", "--output-dir", str(out))
    assert missing.exit_code == 1 and missing.output.count("\n") == 1
    assert not out.exists()
    # An existing DIR/launch is refused before anything is read; what is there stays.
    (out / "layers" / "sbom" / "launch").mkdir(parents=True)
    (out / "layers" / "sbom" / "launch" / "mine.json").write_text("{}")
    taken = cnbsdk("sbom", app_image, "--output-dir", str(out))
    assert taken.exit_code == 1
    taken_dir = out / "layers" / "sbom" / "launch"
    assert taken.output == f"error: {taken_dir}: already exists; choose another --output-dir\n"
    assert files_under(out) == ["layers/sbom/launch/mine.json"]


def test_a_corrupt_sbom_blob_writes_nothing(app_image: str, tmp_path: Path) -> None:
    layout = Path(app_image.removeprefix("oci:").rsplit(":", 1)[0])
    copy = tmp_path / "layout"
    shutil.copytree(layout, copy)
    app = read_app_image(app_image)
    blob = app.manifest.layers[app.config.diff_ids.index(app.lifecycle.sbom)].digest
    path = copy / "blobs" / "sha256" / blob.removeprefix("sha256:")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # in the tar's zero padding: the tar still reads, the digest is wrong
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))
    out = tmp_path / "sboms"
    result = cnbsdk("sbom", f"oci:{copy}:app", "--output-dir", str(out))
    assert result.exit_code == 1
    assert "SBOM layer blob does not match its digest" in result.output
    assert result.output.count("\n") == 1
    assert not out.exists()


def test_a_symlink_in_the_sbom_layer_is_refused(app_image: str, tmp_path: Path) -> None:
    """A hostile SBOM layer (here gzip'd, as a registry would serve it) cannot plant a link
    to a host file in DIR."""
    entries = [
        TarEntry("/layers", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch/evil", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch/evil/sbom.cdx.json", kind=SYMLINK, linkname="/etc/passwd"),
    ]
    hostile = f"oci:{tmp_path}/layout:hostile"
    with_sbom_layer(app_image, hostile, entries, tmp_path)
    out = tmp_path / "sboms"
    result = cnbsdk("sbom", hostile, "--output-dir", str(out))
    assert result.exit_code == 1
    assert "layers/sbom/launch/evil/sbom.cdx.json is not a regular file" in result.output
    assert not out.exists()


def test_a_gzip_sbom_layer_is_extracted(app_image: str, tmp_path: Path) -> None:
    """SBOM layers pushed compressed by other tools: checked against the diffID too."""
    doc = b'{"spdxVersion":"SPDX-2.3"}'
    entries = [
        TarEntry("/layers", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch/acme_node", kind=DIR, mode=0o755),
        TarEntry("/layers/sbom/launch/acme_node/node/sbom.spdx.json", data=doc),
    ]
    image = f"oci:{tmp_path}/layout:gzip"
    with_sbom_layer(app_image, image, entries, tmp_path)
    out = tmp_path / "sboms"
    result = cnbsdk("sbom", image, "--output-dir", str(out))
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["layers/sbom/launch/acme_node/node/sbom.spdx.json"]
    assert (out / "layers/sbom/launch/acme_node/node/sbom.spdx.json").read_bytes() == doc
