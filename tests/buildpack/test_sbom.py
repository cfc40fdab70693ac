"""SBOM files: names per layer and for launch/build, declared formats only, CycloneDX content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnbsdk.buildpack import (
    CYCLONEDX_JSON,
    SYFT_JSON,
    BuildpackError,
    Component,
    Layers,
    Logger,
    Sbom,
)
from cnbsdk.buildpack.sbom import write_sbom


def test_layer_sbom_file_names(tmp_path: Path) -> None:
    layers = Layers(tmp_path, logger=Logger({}), sbom_formats=[CYCLONEDX_JSON, SYFT_JSON])
    layer = layers.cached("node", launch=True)
    assert layer.write_sbom(CYCLONEDX_JSON, b"{}") == tmp_path / "node.sbom.cdx.json"
    assert layer.write_sbom(Sbom(SYFT_JSON, b"{}")) == tmp_path / "node.sbom.syft.json"
    assert (tmp_path / "node.sbom.cdx.json").read_bytes() == b"{}"


def test_launch_and_build_sbom_file_names(tmp_path: Path) -> None:
    sbom = Sbom.cyclonedx([])
    for owner in ("launch", "build"):
        path = write_sbom(
            tmp_path, owner, sbom, declared=[CYCLONEDX_JSON], descriptor_file="bp.toml"
        )
        assert path == tmp_path / f"{owner}.sbom.cdx.json"


def test_undeclared_format_is_refused_naming_sbom_formats(tmp_path: Path) -> None:
    layers = Layers(
        tmp_path,
        logger=Logger({}),
        sbom_formats=[CYCLONEDX_JSON],
        descriptor_file="/bp/buildpack.toml",
    )
    layer = layers.cached("node")
    with pytest.raises(BuildpackError) as raised:
        layer.write_sbom(SYFT_JSON, b"{}")
    assert str(raised.value) == (
        "/bp/buildpack.toml: buildpack.sbom-formats: cannot write a application/vnd.syft+json "
        "SBOM: buildpack.toml's sbom-formats declares application/vnd.cyclonedx+json "
        '(add "application/vnd.syft+json" to sbom-formats)'
    )
    assert not (tmp_path / "node.sbom.syft.json").exists()


def test_unknown_media_type_is_refused() -> None:
    with pytest.raises(BuildpackError, match="unknown SBOM media type 'text/plain'"):
        Sbom("text/plain", b"")


def test_cyclonedx_document_lists_components() -> None:
    sbom = Sbom.cyclonedx(
        [
            Component(
                "node",
                "22.11.0",
                purl="pkg:generic/node@22.11.0",
                licenses=["MIT", "Apache-2.0 OR MIT", "Some Custom Licence"],
                hashes={"sha256": "ABCD"},
            ),
            Component.from_checksum("jdk", "21.0.1", "sha512:ff"),
        ]
    )
    document = json.loads(sbom.content)
    assert sbom.media_type == CYCLONEDX_JSON
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.5"
    node, jdk = document["components"]
    assert node == {
        "type": "library",
        "bom-ref": "pkg:generic/node@22.11.0",
        "name": "node",
        "version": "22.11.0",
        "purl": "pkg:generic/node@22.11.0",
        "licenses": [
            {"license": {"id": "MIT"}},
            {"expression": "Apache-2.0 OR MIT"},
            {"license": {"name": "Some Custom Licence"}},
        ],
        "hashes": [{"alg": "SHA-256", "content": "abcd"}],
    }
    assert jdk["hashes"] == [{"alg": "SHA-512", "content": "ff"}]


def test_cyclonedx_output_is_reproducible() -> None:
    components = [Component("a", "1")]
    assert Sbom.cyclonedx(components).content == Sbom.cyclonedx(components).content


def test_unknown_hash_algorithm_is_refused() -> None:
    with pytest.raises(BuildpackError, match="unknown hash algorithm 'crc32'"):
        Sbom.cyclonedx([Component("a", hashes={"crc32": "00"})])
