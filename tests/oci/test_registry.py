"""Push and pull against Debian's real docker-registry (htpasswd auth) on loopback.

Starts: ``docker-registry`` (tests/registry_server.py); ``skopeo`` reads what we push.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.image import read_image, resolve_image
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.registry import RegistryDestination, RegistrySource
from tests.registry_server import RandomLayer, RegistryServer, make_oci_image, write_random_layer

pytestmark = pytest.mark.registry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(autouse=True)
def _credentials(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The registry's user via CNB_REGISTRY_AUTH; no stray ~/.docker/config.json."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def repo(registry: RegistryServer, request: pytest.FixtureRequest) -> str:
    """A fresh repository reference prefix on the test registry."""
    name = request.node.name.lower().replace("_", "-").strip("-")[:40]
    return f"docker://{registry.host}/tests/{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def image(tmp_path: Path) -> tuple[Path, list[RandomLayer], str]:
    """An OCI layout holding a two-layer image: (layout, layers, manifest digest)."""
    layers = [
        write_random_layer(tmp_path / "l", 300_000, seed=1),
        write_random_layer(tmp_path / "l", 120_000, seed=2),
    ]
    digest, _ = make_oci_image(tmp_path / "layout", "v1", layers)
    return tmp_path / "layout", layers, digest


def blob_uploads(requests: list) -> list:
    return [r for r in requests if r.is_blob_upload]


def layout_blob_digests_verify(layout: Path) -> int:
    """Every blob in a layout hashes to its name; the number checked."""
    blobs = sorted((layout / "blobs" / "sha256").iterdir())
    for blob in blobs:
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    return len(blobs)


def test_push_then_pull_keeps_the_manifest_digest_and_every_blob(
    registry: RegistryServer, repo: str, image: tuple[Path, list[RandomLayer], str], tmp_path: Path
) -> None:
    layout, layers, digest = image
    pushed = copy_image(f"oci:{layout}:v1", f"{repo}:v1")
    assert pushed.manifest_digest == digest
    assert len(pushed.copied) == 3  # two layers and the config

    pulled = copy_image(f"{repo}:v1", f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.manifest_digest == digest
    assert layout_blob_digests_verify(tmp_path / "pulled") == 4  # + the manifest
    for layer in layers:
        copy = tmp_path / "pulled" / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        assert copy.read_bytes() == layer.path.read_bytes()

    # An independent client reads what we pushed, with the same digest.
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false",
         "--creds", f"{registry.username}:{registry.password}", f"{repo}:v1"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert json.loads(inspected.stdout)["Digest"] == digest


def test_pull_by_digest(
    repo: str, image: tuple[Path, list[RandomLayer], str], tmp_path: Path
) -> None:
    layout, _, digest = image
    copy_image(f"oci:{layout}:v1", f"{repo}:v1")
    with RegistrySource(parse_reference(f"{repo}@{digest}")) as source:
        manifest, config = read_image(source)
    assert config.architecture == "amd64"
    assert len(manifest.layers) == 2

    pulled = copy_image(f"{repo}@{digest}", f"oci:{tmp_path / 'by-digest'}:x")
    assert pulled.manifest_digest == digest


def test_pull_of_a_missing_tag_names_it(repo: str) -> None:
    with (
        RegistrySource(parse_reference(f"{repo}:nope")) as source,
        pytest.raises(ImageError) as err,
    ):
        source.get_manifest()
    assert "not found" in str(err.value)
    assert ":nope" in str(err.value)
    assert "\n" not in str(err.value)


def test_repush_of_an_existing_image_uploads_no_blob(
    registry: RegistryServer, repo: str, image: tuple[Path, list[RandomLayer], str]
) -> None:
    layout, _, digest = image
    copy_image(f"oci:{layout}:v1", f"{repo}:v1")

    mark = registry.log_mark()
    again = copy_image(f"oci:{layout}:v1", f"{repo}:v1")
    logged = registry.requests(since=mark)

    assert again.manifest_digest == digest
    assert len(again.skipped) == 3 and not again.copied
    assert blob_uploads(logged) == []
    heads = [r for r in logged if r.method == "HEAD" and "/blobs/" in r.path and r.status == 200]
    assert len(heads) == 3


def test_cross_repository_mount_moves_no_bytes(
    registry: RegistryServer, repo: str, image: tuple[Path, list[RandomLayer], str]
) -> None:
    layout, _, digest = image
    copy_image(f"oci:{layout}:v1", f"{repo}:v1")

    mark = registry.log_mark()
    other = f"{repo}-mounted:v1"
    report = copy_image(f"{repo}:v1", other)
    logged = registry.requests(since=mark)

    assert report.manifest_digest == digest
    assert len(report.mounted) == 3
    mounts = [r for r in logged if r.is_mount]
    assert [r.status for r in mounts] == [201, 201, 201]
    assert not [r for r in logged if r.method in ("PUT", "PATCH") and "/blobs/" in r.path]
    with RegistrySource(parse_reference(other)) as source:
        assert resolve_image(source).digest == digest


def test_mount_refused_falls_back_to_an_upload(
    registry: RegistryServer, repo: str, image: tuple[Path, list[RandomLayer], str]
) -> None:
    _, layers, _ = image
    with RegistryDestination(parse_reference(f"{repo}:v1")) as dest:
        # The blob is in no repository yet: the registry answers 202 and opens an upload.
        assert dest.try_mount(layers[0].digest, "tests/nowhere") is False
        mark = registry.log_mark()
        with layers[0].path.open("rb") as stream:
            dest.put_blob(layers[0].digest, layers[0].size, stream)
        assert dest.has_blob(layers[0].digest)
    logged = registry.requests(since=mark)
    # The upload reused the session the mount opened: no second POST.
    assert [r.method for r in blob_uploads(logged)] == ["PUT"]


def test_large_blobs_go_up_in_chunks(
    registry: RegistryServer,
    repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CNBSDK_REGISTRY_CHUNK_SIZE", "100000")
    layer = write_random_layer(tmp_path / "l", 350_000, seed=7)  # about 4 chunks
    digest, _ = make_oci_image(tmp_path / "layout", "v1", [layer])

    mark = registry.log_mark()
    copy_image(f"oci:{tmp_path / 'layout'}:v1", f"{repo}:v1")
    logged = registry.requests(since=mark)

    patches = [r for r in logged if r.method == "PATCH"]
    assert len(patches) == -(-layer.size // 100_000)
    assert all(r.status == 202 for r in patches)
    pulled = copy_image(f"{repo}:v1", f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.manifest_digest == digest
    layout_blob_digests_verify(tmp_path / "pulled")


def test_index_pull_selects_linux_amd64(repo: str, tmp_path: Path) -> None:
    images = {}
    for seed, architecture in enumerate(("arm64", "amd64")):
        layer = write_random_layer(tmp_path / "l", 50_000, seed=10 + seed)
        layout = tmp_path / architecture
        digest, raw = make_oci_image(layout, "v1", [layer], architecture=architecture)
        images[architecture] = (layout, digest, raw)

    target = parse_reference(f"{repo}:multi")
    with RegistryDestination(target) as dest:
        entries = []
        for architecture, (layout, digest, raw) in images.items():
            for blob in (layout / "blobs" / "sha256").iterdir():
                with blob.open("rb") as stream:
                    dest.put_blob("sha256:" + blob.name, blob.stat().st_size, stream)
            assert dest.put_manifest(raw, OCI_MANIFEST, reference=digest) == digest
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(raw),
                    "platform": {"os": "linux", "architecture": architecture},
                }
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})
        dest.put_manifest(index.encode(), OCI_INDEX)

    with RegistrySource(target) as source:
        raw, media_type = source.get_manifest()
        assert media_type == OCI_INDEX
        resolved = resolve_image(source)
    assert resolved.digest == images["amd64"][1]

    pulled = copy_image(target, f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.manifest_digest == images["amd64"][1]
