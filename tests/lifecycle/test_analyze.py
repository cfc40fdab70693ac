"""read_previous_image (cnbsdk.lifecycle.analyze): missing, present and label-less images in
an OCI layout, the local store (CNBSDK_HOME in tmp) and the loopback docker-registry."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.lifecycle.analyze import read_previous_image
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_destination
from cnbsdk.spec.labels import (
    LIFECYCLE_METADATA_LABEL,
    BuildpackLayersMetadata,
    LayerMetadata,
    LifecycleMetadata,
)
from tests.registry_server import RegistryServer

METADATA = LifecycleMetadata(
    app=("sha256:" + "a" * 64,),
    buildpacks=(
        BuildpackLayersMetadata(
            "example/layers",
            "1.0.0",
            {"web": LayerMetadata("sha256:" + "b" * 64, {"v": "1"}, launch=True)},
            {"metadata": {"k": "v"}},
        ),
    ),
)


def write_app_image(ref: str, tmp_path: Path, labels: dict[str, str]) -> str:
    """A one-layer image with ``labels`` at ``ref``; returns its manifest digest."""
    layer = write_layer_from_entries(
        [TarEntry.file("/workspace/app.txt", b"hello")], tmp_path / "blobs"
    )
    dest = open_destination(ref)
    try:
        return write_image(dest, ImageConfig(labels=labels), [layer])
    finally:
        dest.close()


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture(autouse=True)
def _store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNBSDK_HOME", str(tmp_path / "home"))


# -- OCI layout -----------------------------------------------------------------------------


def test_no_layout_at_all_means_no_previous_image(tmp_path: Path, warnings: list[str]):
    assert read_previous_image(f"oci:{tmp_path / 'nothing'}:app", warn=warnings.append) is None
    assert warnings == []


def test_a_layout_without_the_tag_means_no_previous_image(tmp_path: Path):
    write_app_image(f"oci:{tmp_path / 'layout'}:other", tmp_path, {})
    assert read_previous_image(f"oci:{tmp_path / 'layout'}:app") is None


def test_an_image_with_the_label_gives_its_metadata(tmp_path: Path, warnings: list[str]):
    ref = f"oci:{tmp_path / 'layout'}:app"
    digest = write_app_image(ref, tmp_path, {LIFECYCLE_METADATA_LABEL: METADATA.to_json()})

    previous = read_previous_image(ref, warn=warnings.append)

    assert previous is not None
    assert previous.metadata == METADATA
    assert previous.config.labels[LIFECYCLE_METADATA_LABEL] == METADATA.to_json()
    assert len(previous.manifest.layers) == 1 and len(previous.diff_ids) == 1
    assert previous.ref == ref and previous.source_ref == ref
    source = previous.open_source()
    try:
        raw, _ = source.get_manifest()
    finally:
        source.close()
    assert previous.manifest.to_json() == raw and digest.startswith("sha256:")
    assert warnings == []


def test_an_image_without_the_label_has_no_metadata(tmp_path: Path, warnings: list[str]):
    ref = f"oci:{tmp_path / 'layout'}:app"
    write_app_image(ref, tmp_path, {"org.example": "x"})
    previous = read_previous_image(ref, warn=warnings.append)
    assert previous is not None and previous.metadata is None
    assert warnings == []


def test_an_unreadable_label_gives_a_warning_and_no_metadata(tmp_path: Path, warnings: list[str]):
    ref = f"oci:{tmp_path / 'layout'}:app"
    write_app_image(ref, tmp_path, {LIFECYCLE_METADATA_LABEL: '{"buildpacks": [{"layers": 1'})
    previous = read_previous_image(ref, warn=warnings.append)
    assert previous is not None and previous.metadata is None
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert warnings[0].startswith(f"Ignoring the previous image's metadata ({ref}): ")
    assert LIFECYCLE_METADATA_LABEL in warnings[0]


def test_a_broken_layout_is_an_error_not_a_missing_image(tmp_path: Path):
    layout = tmp_path / "layout"
    write_app_image(f"oci:{layout}:app", tmp_path, {})
    (layout / "index.json").write_text("{not json")
    with pytest.raises(ImageError) as raised:
        read_previous_image(f"oci:{layout}:app")
    assert "index.json" in str(raised.value) and "\n" not in str(raised.value)


# -- the local store ------------------------------------------------------------------------


def test_an_empty_store_means_no_previous_image(tmp_path: Path):
    assert read_previous_image("example/app:latest") is None


def test_an_image_in_the_store_is_read(tmp_path: Path):
    write_app_image("example/other:latest", tmp_path, {})
    assert read_previous_image("example/app") is None
    write_app_image("example/app:latest", tmp_path, {LIFECYCLE_METADATA_LABEL: METADATA.to_json()})

    previous = read_previous_image("example/app")
    assert previous is not None and previous.metadata == METADATA
    assert (tmp_path / "home" / "images" / "oci-layout").is_file()


# -- a registry -----------------------------------------------------------------------------


@pytest.mark.registry
def test_registry_images_missing_and_present(
    tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    repo = f"docker://{registry.host}/tests/analyze-{uuid.uuid4().hex[:6]}"

    assert read_previous_image(f"{repo}:latest") is None  # unknown repository
    write_app_image(f"{repo}:v1", tmp_path, {LIFECYCLE_METADATA_LABEL: METADATA.to_json()})
    assert read_previous_image(f"{repo}:v2") is None  # unknown tag
    previous = read_previous_image(f"{repo}:v1")
    assert previous is not None and previous.metadata == METADATA


@pytest.mark.registry
def test_registry_refusing_credentials_is_an_error(
    tmp_path: Path, registry: RegistryServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env(password="wrong").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImageError):
        read_previous_image(f"docker://{registry.host}/tests/analyze-denied:latest")
