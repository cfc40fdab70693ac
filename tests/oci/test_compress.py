"""Gzip on the way to a registry (cnbsdk.oci.compress and ``cnbsdk copy``).

Images with plain tar layers (as the local store keeps them) are pushed to Debian's real
docker-registry on loopback (tests/registry_server.py); skopeo reads what was pushed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.compress import CompressedBlob, CompressionIndex, compress_layer
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import Layer, TarEntry, write_layer_from_dir, write_layer_from_entries
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import Manifest
from cnbsdk.oci.open import open_destination
from cnbsdk.oci.store import store_path
from tests.image_helpers import cnbsdk, read_image_ref
from tests.oci.conftest import SAMPLE_CONFIG
from tests.registry_server import RegistryServer


def sha256_file(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def plain_image(tree: Path, tmp_path: Path, store_home: Path) -> tuple[str, list[Layer]]:
    """A two-layer image in the local store whose layers are plain tars: (ref, layers)."""
    layers = [
        write_layer_from_dir(tree, tmp_path / "blobs", prefix="/layers/bp/tree", compress=False),
        write_layer_from_entries(
            [TarEntry.dir("/etc"), TarEntry.file("/etc/motd", b"welcome\n" * 500)],
            tmp_path / "blobs",
            compress=False,
        ),
    ]
    ref = "plain/app:1"
    dest = open_destination(ref)
    try:
        write_image(dest, SAMPLE_CONFIG, layers)
    finally:
        dest.close()
    return ref, layers


@pytest.fixture
def registry_env(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Credentials for the test registry; returns a fresh repository prefix on it."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    return f"{registry.host}/compress/{uuid.uuid4().hex[:8]}"


def uploads_since(registry: RegistryServer, mark: int) -> list[str]:
    return [r.path for r in registry.requests(since=mark) if r.is_blob_upload]


def assert_layers_unzip_to_their_diff_ids(layout: Path, tag: str) -> Manifest:
    """Every layer blob of a pulled image, gunzipped, hashes to its diffID."""
    manifest, config, _ = read_image_ref(f"oci:{layout}:{tag}")
    assert len(manifest.layers) == len(config.diff_ids)
    for descriptor, diff_id in zip(manifest.layers, config.diff_ids, strict=True):
        blob = OciLayout(layout).blob_path(descriptor.digest).read_bytes()
        assert descriptor.media_type == mt.OCI_LAYER_GZIP
        assert "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest() == diff_id
    return manifest


# -- compressing one layer ---------------------------------------------------------------------


def test_gzip_from_the_tar_equals_gzip_while_tarring(tree: Path, tmp_path: Path) -> None:
    """A layer gets one compressed digest whichever way it was gzipped: reproducible images."""
    options = {"prefix": "/layers/bp/tree", "uid": 1000, "gid": 1000}
    while_tarring = write_layer_from_dir(tree, tmp_path / "a", compress=True, **options)
    plain = write_layer_from_dir(tree, tmp_path / "b", compress=False, **options)
    after = compress_layer(plain, tmp_path / "c")

    assert after.media_type == mt.OCI_LAYER_GZIP
    assert (after.digest, after.size, after.diff_id) == (
        while_tarring.digest,
        while_tarring.size,
        while_tarring.diff_id,
    )
    blob = after.path.read_bytes()
    assert blob == while_tarring.path.read_bytes()
    assert sha256_file(after.path) == after.digest
    assert gzip.decompress(blob) == plain.path.read_bytes()
    # gzip header: magic, deflate, no flags (no file name), mtime 0
    assert blob[:4] == b"\x1f\x8b\x08\x00" and blob[4:8] == b"\0\0\0\0"
    assert after.size < plain.size / 3  # the tree is text: gzip pays off
    assert plain.path.is_file()  # the tar stays for whoever else needs it (the cache)
    # an already compressed layer is left alone
    assert compress_layer(while_tarring, tmp_path / "d") == while_tarring


def test_a_tar_that_no_longer_matches_its_diff_id_is_refused(tree: Path, tmp_path: Path) -> None:
    plain = write_layer_from_dir(tree, tmp_path / "b", compress=False)
    data = bytearray(plain.path.read_bytes())
    data[600] ^= 0xFF
    plain.path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as caught:
        compress_layer(plain, tmp_path / "out")
    assert "content digest" in str(caught.value) and plain.diff_id in str(caught.value)
    assert "\n" not in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written


def test_the_index_remembers_and_shrugs_off_damaged_entries(tmp_path: Path) -> None:
    index = CompressionIndex(tmp_path / "compressed")
    diff_id = "sha256:" + "a" * 64
    assert index.get(diff_id) is None
    blob = CompressedBlob("sha256:" + "b" * 64, 123)
    index.put(diff_id, blob)
    assert CompressionIndex(tmp_path / "compressed").get(diff_id) == blob
    (tmp_path / "compressed" / ("a" * 64 + ".json")).write_text('{"digest": "md5:x"}')
    assert index.get(diff_id) is None  # recomputed, never trusted


# -- cnbsdk copy -------------------------------------------------------------------------------


@pytest.mark.registry
def test_copy_to_a_registry_gzips_plain_layers_once(
    plain_image: tuple[str, list[Layer]],
    registry: RegistryServer,
    registry_env: str,
    tmp_path: Path,
) -> None:
    ref, layers = plain_image
    plain_manifest, _, plain_raw = read_image_ref(ref)
    target = f"{registry_env}/app:1"

    first = cnbsdk("copy", ref, target)

    assert first.exit_code == 0, first.output
    assert "Copied 3 blobs" in first.output
    assert f"Gzipped 2 uncompressed layer(s) for docker://{target}: " in first.output
    manifest, config, raw = read_image_ref(target)
    assert [d.media_type for d in manifest.layers] == [mt.OCI_LAYER_GZIP] * 2
    assert config.diff_ids == tuple(layer.diff_id for layer in layers)
    assert manifest.config == plain_manifest.config  # the config (image ID) is unchanged
    assert sum(d.size for d in manifest.layers) < sum(d.size for d in plain_manifest.layers) / 3
    index = store_path() / "compressed"
    for layer, descriptor in zip(layers, manifest.layers, strict=True):
        recorded = json.loads((index / (layer.diff_id.split(":")[1] + ".json")).read_text())
        assert recorded == {"digest": descriptor.digest, "size": descriptor.size}
    assert raw != plain_raw

    # Again: the index names the blobs, the registry has them, nothing is compressed or sent.
    mark = registry.log_mark()
    again = cnbsdk("copy", ref, f"{registry_env}/app:2")
    assert again.exit_code == 0, again.output
    assert "Copied 0 blobs" in again.output
    assert uploads_since(registry, mark) == []
    assert read_image_ref(f"{registry_env}/app:2")[2] == raw

    # What was pushed pulls back and verifies; skopeo reads it from the registry too.
    pulled = copy_image(target, f"oci:{tmp_path / 'pulled'}:app")
    assert pulled.manifest_digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert assert_layers_unzip_to_their_diff_ids(tmp_path / "pulled", "app") == manifest
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false",
         "--creds", f"{registry.username}:{registry.password}", f"docker://{target}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(inspected.stdout)
    assert data["Digest"] == pulled.manifest_digest
    assert data["Layers"] == [d.digest for d in manifest.layers]


@pytest.mark.registry
def test_another_repository_gets_the_same_gzip_blobs(
    plain_image: tuple[str, list[Layer]], registry: RegistryServer, registry_env: str
) -> None:
    ref, _ = plain_image
    first = copy_image(ref, f"{registry_env}/one:1")
    mark = registry.log_mark()
    second = copy_image(ref, f"{registry_env}/two:1")
    # the index's blobs are not in that repository: compressed again, to the same bytes
    assert second.manifest_digest == first.manifest_digest
    assert len(second.copied) == 3 and len(uploads_since(registry, mark)) >= 3
    assert second.compressed == first.compressed


@pytest.mark.registry
def test_no_dest_compress_pushes_the_plain_tars(
    plain_image: tuple[str, list[Layer]], registry_env: str
) -> None:
    ref, _ = plain_image
    _, _, plain_raw = read_image_ref(ref)
    result = cnbsdk("copy", "--no-dest-compress", ref, f"{registry_env}/plain:1")
    assert result.exit_code == 0, result.output
    assert "Gzipped" not in result.output
    pushed_raw = read_image_ref(f"{registry_env}/plain:1")[2]
    assert pushed_raw == plain_raw  # byte for byte the store's manifest


def test_copies_to_a_layout_stay_plain_unless_asked(
    plain_image: tuple[str, list[Layer]], tmp_path: Path
) -> None:
    ref, _ = plain_image
    _, _, plain_raw = read_image_ref(ref)
    kept = copy_image(ref, f"oci:{tmp_path / 'kept'}:v1")
    assert kept.compressed == [] and read_image_ref(f"oci:{tmp_path / 'kept'}:v1")[2] == plain_raw

    result = cnbsdk("copy", "--dest-compress", ref, f"oci:{tmp_path / 'gz'}:v1")
    assert result.exit_code == 0, result.output
    assert "Gzipped 2 uncompressed layer(s)" in result.output
    assert_layers_unzip_to_their_diff_ids(tmp_path / "gz", "v1")
    inspected = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci:{tmp_path / 'gz'}:v1"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    raw_layers = json.loads(inspected.stdout)["layers"]
    assert [x["mediaType"] for x in raw_layers] == [mt.OCI_LAYER_GZIP] * 2


@pytest.mark.registry
def test_a_damaged_plain_layer_fails_in_one_line_and_tags_nothing(
    plain_image: tuple[str, list[Layer]], registry_env: str
) -> None:
    ref, layers = plain_image
    blob = OciLayout(store_path()).blob_path(layers[1].digest)
    data = bytearray(blob.read_bytes())
    data[700] ^= 0xFF
    blob.write_bytes(bytes(data))
    target = f"{registry_env}/damaged:1"

    result = cnbsdk("copy", ref, target)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert layers[1].diff_id in result.stderr and "does not match" in result.stderr
    with pytest.raises(ImageError):
        read_image_ref(target)
    assert not (store_path() / "compressed" / (layers[1].diff_id.split(":")[1] + ".json")).exists()
