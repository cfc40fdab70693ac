"""Independent clients read what cnbsdk writes, and cnbsdk reads what they write.

Real components: Debian's skopeo and umoci.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from cnbsdk.oci import media_types as mt
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.digest import Descriptor, Platform
from cnbsdk.oci.image import read_image, resolve_image
from cnbsdk.oci.layer_tar import Layer
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import ImageConfig, Index, Manifest
from cnbsdk.oci.open import open_source
from tests.oci.conftest import make_image


def skopeo(*args: str) -> str:
    return subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, check=True
    ).stdout


def skopeo_raw(ref: str, *extra: str) -> bytes:
    return subprocess.run(
        ["skopeo", "--insecure-policy", "inspect", "--raw", *extra, ref],
        capture_output=True,
        check=True,
    ).stdout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def cnbsdk_view(ref: str) -> tuple[str, str, tuple[str, ...]]:
    """(manifest digest, config digest, diffIDs) as cnbsdk reads them."""
    source = open_source(ref)
    try:
        resolved = resolve_image(source)
        _, config = read_image(source)
    finally:
        source.close()
    return resolved.digest, resolved.manifest.config.digest, config.diff_ids


def test_skopeo_and_umoci_read_our_oci_layout(
    oci_image: tuple[str, str, Layer], tree: Path, tmp_path: Path
) -> None:
    ref, digest, layer = oci_image
    info = json.loads(skopeo("inspect", ref))
    assert info["Digest"] == digest
    assert info["Layers"] == [layer.digest]
    assert info["Labels"]["org.example"] == "yes"
    assert sha(skopeo_raw(ref)) == digest
    config = json.loads(skopeo_raw(ref, "--config"))
    assert config["rootfs"]["diff_ids"] == [layer.diff_id]
    assert config["config"]["User"] == "1000:1000"
    assert config["config"]["WorkingDir"] == "/workspace"
    bundle = tmp_path / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", ref.removeprefix("oci:"), str(bundle)],
        capture_output=True,
        check=True,
    )
    unpacked = bundle / "rootfs" / "layers" / "bp" / "layer"
    assert (unpacked / "bin" / "tool").read_text() == (tree / "bin" / "tool").read_text()
    assert (unpacked / "lib" / "link").is_symlink()


def test_several_tags_in_one_layout_are_all_readable(tree: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    first, _ = make_image(tree, tmp_path, f"oci:{layout}:one")
    (tree / "bin" / "tool").write_text("changed\n")
    second, _ = make_image(tree, tmp_path, f"oci:{layout}:two")
    again, _ = make_image(tree, tmp_path, f"oci:{layout}:two")  # re-tagging replaces
    assert first != second == again
    assert sorted(tag for tag, _ in OciLayout(layout).tags()) == ["one", "two"]
    assert json.loads(skopeo("inspect", f"oci:{layout}:one"))["Digest"] == first
    assert json.loads(skopeo("inspect", f"oci:{layout}:two"))["Digest"] == second


def test_docker_archive_we_write_is_read_by_skopeo(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, _, layer = oci_image
    archive = tmp_path / "image.tar"
    copy_image(ref, f"docker-archive:{archive}:team/app:1")
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert index[0]["RepoTags"] == ["team/app:1"]
    # skopeo finds the image by that name
    assert json.loads(skopeo("inspect", f"docker-archive:{archive}:team/app:1"))["Layers"]
    skopeo_config = skopeo_raw(f"docker-archive:{archive}", "--config")
    _, config_digest, diff_ids = cnbsdk_view(ref)
    assert sha(skopeo_config) == config_digest  # same image ID
    assert json.loads(skopeo_config)["rootfs"]["diff_ids"] == [layer.diff_id]
    # and skopeo can move it on to another transport
    skopeo("copy", f"docker-archive:{archive}", f"oci:{tmp_path / 'back'}:x")
    assert cnbsdk_view(f"oci:{tmp_path / 'back'}:x")[2] == diff_ids


def test_local_store_is_an_oci_layout_skopeo_reads(
    oci_image: tuple[str, str, Layer], store_home: Path
) -> None:
    ref, digest, _ = oci_image
    report = copy_image(ref, "team/app:1")
    assert report.manifest_digest == digest
    info = json.loads(skopeo("inspect", f"oci:{store_home / 'images'}:team/app:1"))
    assert info["Digest"] == digest


def test_images_written_by_skopeo_are_read_with_the_same_digests(
    oci_image: tuple[str, str, Layer], tmp_path: Path, store_home: Path
) -> None:
    ref, _, _ = oci_image
    skopeo_layout = f"oci:{tmp_path / 'by-skopeo'}:copied"
    skopeo("copy", ref, skopeo_layout)
    digest, config_digest, diff_ids = cnbsdk_view(skopeo_layout)
    assert digest == sha(skopeo_raw(skopeo_layout))
    assert config_digest == sha(skopeo_raw(skopeo_layout, "--config"))

    archive = f"docker-archive:{tmp_path / 'by-skopeo.tar'}:team/app:2"
    skopeo("copy", ref, archive)
    _, archive_config, archive_diff_ids = cnbsdk_view(archive)
    assert archive_config == sha(skopeo_raw(archive, "--config"))
    assert archive_diff_ids == diff_ids

    # cnbsdk copies skopeo's archive into the store and back out to a layout skopeo reads
    copy_image(archive, "from-archive:1")
    copy_image("from-archive:1", f"oci:{tmp_path / 'out'}:x")
    out = json.loads(skopeo("inspect", f"oci:{tmp_path / 'out'}:x"))
    assert out["Digest"] == cnbsdk_view("from-archive:1")[0]
    assert cnbsdk_view(f"oci:{tmp_path / 'out'}:x")[2] == diff_ids


def test_index_selects_the_running_platform(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, digest, _ = oci_image
    layout = OciLayout(ref.removeprefix("oci:").rsplit(":", 1)[0])
    amd64 = layout.entries()[0]
    # an arm64 variant: same layers, another config
    source = open_source(ref)
    manifest, config = read_image(source)
    source.close()
    arm_config = ImageConfig.from_json(config.to_json())
    arm_raw = ImageConfig(**{**arm_config.__dict__, "architecture": "arm64"}).to_json()
    arm_config_digest = layout.put_bytes(arm_raw)
    arm_manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, arm_config_digest, len(arm_raw)), layers=manifest.layers
    ).to_json()
    arm_digest = layout.put_bytes(arm_manifest)
    index = Index(
        manifests=(
            Descriptor(
                mt.OCI_MANIFEST, arm_digest, len(arm_manifest), platform=Platform("linux", "arm64")
            ),
            Descriptor(
                mt.OCI_MANIFEST, amd64.digest, amd64.size, platform=Platform("linux", "amd64")
            ),
        )
    ).to_json()
    layout.set_tag("multi", Descriptor(mt.OCI_INDEX, layout.put_bytes(index), len(index)))
    multi = ref.rsplit(":", 1)[0] + ":multi"
    assert cnbsdk_view(multi)[0] == digest
    assert json.loads(skopeo("inspect", multi))["Digest"] in (digest, sha(index))
    assert json.loads(skopeo_raw(multi, "--config"))["architecture"] == "amd64"


@pytest.mark.parametrize("target", ["oci", "store"])
def test_docker_schema2_is_read_and_converted_to_oci(
    oci_image: tuple[str, str, Layer], tmp_path: Path, store_home: Path, target: str
) -> None:
    ref, _, _ = oci_image
    archive = f"docker-archive:{tmp_path / 'a.tar'}"
    skopeo("copy", ref, archive)
    source = open_source(archive)
    assert resolve_image(source).media_type == mt.DOCKER_MANIFEST
    source.close()
    dest = f"oci:{tmp_path / 'converted'}:x" if target == "oci" else "converted:x"
    report = copy_image(archive, dest)
    assert report.media_type == mt.OCI_MANIFEST
    raw = skopeo_raw(
        f"oci:{tmp_path / 'converted'}:x"
        if target == "oci"
        else f"oci:{store_home / 'images'}:converted:x"
    )
    assert json.loads(raw)["mediaType"] == mt.OCI_MANIFEST
    assert sha(raw) == report.manifest_digest
