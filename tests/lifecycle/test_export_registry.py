"""``cnbsdk build --image <registry>`` pushes gzip layers; rebuilds, copies and rebases keep
them. Apps are built in-process by ``cnbsdk build`` (the e2e fixture buildpacks, sandboxed)
on the shipped stack (CNBSDK_HOME in tmp) and pushed to the real docker-registry on
loopback; skopeo reads what was pushed.

Starts: bubblewrap, docker-registry (tests/registry_server.py), skopeo.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import Result

from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.digest import sha256_digest
from cnbsdk.oci.image import read_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.oci.open import open_destination, open_source
from tests.image_helpers import cnbsdk, private_home, read_image_ref
from tests.registry_server import RegistryServer

pytestmark = pytest.mark.registry

BUILDPACKS = Path(__file__).parent / "e2e" / "fixtures" / "buildpacks"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private CNBSDK_HOME whose store holds the default stack (created once)."""
    path = tmp_path_factory.mktemp("export-registry-home")
    with private_home(path):
        yield path


@pytest.fixture
def repo(
    home: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """Credentials for the test registry and a fresh repository prefix on it."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for key, value in registry.auth_env().items():
        monkeypatch.setenv(key, value)
    return f"{registry.host}/xr-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app"
    path.mkdir()
    (path / "hello.txt").write_text("hello from the app\n" * 200)
    return path


def build(app: Path, image: str, cache: Path, *extra: str) -> Result:
    """``cnbsdk build`` with the ``layers`` (launch, launch+cache, cache, toml-only layers
    and SBOMs) and ``hello`` buildpacks."""
    result = cnbsdk(
        "build", str(app), "--image", image, "--cache-dir", str(cache),
        "--buildpack", str(BUILDPACKS / "layers"), "--buildpack", str(BUILDPACKS / "hello"),
        *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def read(ref: str) -> tuple[Manifest, ImageConfig, str]:
    manifest, config, raw = read_image_ref(ref)
    return manifest, config, sha256_digest(raw)


def run_image_layer_count() -> int:
    return len(read(DEFAULT_RUN_IMAGE)[0].layers)


def blob_uploads(registry: RegistryServer, mark: int) -> list[str]:
    return [r.path for r in registry.requests(since=mark) if r.is_blob_upload]


def blobs_sent(registry: RegistryServer, mark: int) -> list[str]:
    """Uploads that completed (the final PUT names the digest); mounts are not among them."""
    return [p for p in blob_uploads(registry, mark) if "digest=" in p]


def test_build_pushes_gzip_layers_and_a_rebuild_moves_nothing(
    app: Path, repo: str, registry: RegistryServer, tmp_path: Path
) -> None:
    image = f"{repo}/app:1"
    first = build(app, image, tmp_path / "cache")

    manifest, config, digest = read(image)
    ours = manifest.layers[run_image_layer_count() :]
    assert len(ours) >= 6  # buildpack layers, SBOM, app, launcher, config, process types
    assert all(d.media_type == mt.OCI_LAYER_GZIP for d in ours)
    assert f"Compressed {len(ours)} new layer(s) with gzip" in first.output
    # The cache keeps plain tars named by diffID, one of them the launch+cache layer's.
    tars = sorted((tmp_path / "cache" / "committed").glob("sha256:*.tar"))
    assert tars and all(sha256_digest(t.read_bytes()) == t.name[: -len(".tar")] for t in tars)
    assert {t.name[: -len(".tar")] for t in tars} & set(config.diff_ids)
    # Pulled back, every layer inflates to its diffID; skopeo reads the registry's image.
    pulled = tmp_path / "pulled"
    assert copy_image(image, f"oci:{pulled}:app").manifest_digest == digest
    for descriptor, diff_id in zip(manifest.layers, config.diff_ids, strict=True):
        blob = OciLayout(pulled).blob_path(descriptor.digest).read_bytes()
        assert sha256_digest(gzip.decompress(blob)) == diff_id != descriptor.digest
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false",
         "--creds", f"{registry.username}:{registry.password}", f"docker://{image}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(inspected.stdout)["Digest"] == digest

    # Nothing changed: every layer is the previous image's blob; no blob is sent.
    mark = registry.log_mark()
    again = build(app, image, tmp_path / "cache")
    assert blob_uploads(registry, mark) == []
    assert read(image)[2] == digest
    assert "Compressed" not in again.output and "Adding layer" not in again.output
    assert "Reusing layer 'e2e/layers:launch-cache'" in again.output

    # A source change: only the app layer is new, gzipped from its tar (the others untouched).
    (app / "hello.txt").write_text("changed\n" * 200)
    mark = registry.log_mark()
    changed = build(app, image, tmp_path / "cache")
    assert "Compressed 1 new layer(s) with gzip" in changed.output
    new_manifest, _, new_digest = read(image)
    differing = [
        (a, b) for a, b in zip(manifest.layers, new_manifest.layers, strict=True) if a != b
    ]
    assert len(differing) == 1 and differing[0][1].media_type == mt.OCI_LAYER_GZIP
    assert len(blobs_sent(registry, mark)) == 2  # the app layer and the config

    # The same inputs built from scratch (gzipped while tarring) give the same image.
    fresh = f"{repo}/fresh:1"
    build(app, fresh, tmp_path / "fresh-cache")
    assert read(fresh)[0].layers == new_manifest.layers
    assert read(fresh)[2] == new_digest


def test_a_store_image_copied_to_the_registry_equals_a_direct_build(
    app: Path, repo: str, registry: RegistryServer, tmp_path: Path
) -> None:
    """Plain tars in the store, gzip in the registry: ``cnbsdk copy`` compresses them to the
    very blobs a build to the registry writes, and remembers them."""
    local = f"xr-app-{uuid.uuid4().hex[:6]}:1"
    build(app, local, tmp_path / "cache")
    manifest, config, _ = read(local)
    ours = manifest.layers[run_image_layer_count() :]
    assert all(d.media_type == mt.OCI_LAYER for d in ours)  # the store keeps plain tars
    assert [d.digest for d in ours] == list(config.diff_ids[-len(ours) :])

    copied = cnbsdk("copy", local, f"{repo}/app:copied")
    assert copied.exit_code == 0, copied.output
    assert f"Gzipped {len(ours)} uncompressed layer(s)" in copied.output
    pushed, _, pushed_digest = read(f"{repo}/app:copied")
    assert all(d.media_type == mt.OCI_LAYER_GZIP for d in pushed.layers)

    mark = registry.log_mark()
    again = cnbsdk("copy", local, f"{repo}/app:copied")
    assert again.exit_code == 0, again.output
    assert "Copied 0 blobs" in again.output
    assert blob_uploads(registry, mark) == []

    # Built straight into the registry: the same manifest, so not a single layer is sent.
    mark = registry.log_mark()
    build(app, f"{repo}/app:direct", tmp_path / "direct-cache")
    assert read(f"{repo}/app:direct")[2] == pushed_digest
    assert len(blob_uploads(registry, mark)) == 0


def changed_run_image(source_ref: str, dest_ref: str, work: Path) -> None:
    """The run image with one more layer (``/etc/motd``), as a patched stack would be."""
    work.mkdir(parents=True, exist_ok=True)
    layer = write_layer_from_entries(
        [TarEntry.dir("/etc", mode=0o755), TarEntry.file("/etc/motd", b"patched\n")], work
    )
    source = open_source(source_ref)
    dest = open_destination(dest_ref)
    try:
        manifest, config = read_image(source)
        labels = {**config.labels, "io.buildpacks.base.released": "2030-01-01T00:00:00Z"}
        write_image(dest, replace(config, labels=labels), [layer], base=(source, manifest))
    finally:
        dest.close()
        source.close()


def test_rebase_keeps_the_gzip_app_layers_byte_for_byte(
    app: Path, repo: str, registry: RegistryServer, tmp_path: Path
) -> None:
    run, image = f"{repo}/run:1", f"{repo}/app:1"
    copy_image(DEFAULT_RUN_IMAGE, run)
    build(app, image, tmp_path / "cache", "--run-image", run)
    before, _, _ = read(image)
    base = len(read(run)[0].layers)
    changed_run_image(run, run, tmp_path / "patch")

    mark = registry.log_mark()
    result = cnbsdk("rebase", image, "--publish")

    assert result.exit_code == 0, result.output
    after, _, _ = read(image)
    assert after.layers[base + 1 :] == before.layers[base:]  # same gzip blobs, same digests
    assert all(d.media_type == mt.OCI_LAYER_GZIP for d in after.layers[base + 1 :])
    assert "(app layers: 0 B)" in result.output
    assert len(blobs_sent(registry, mark)) == 1  # the config; the new base layer is mounted
