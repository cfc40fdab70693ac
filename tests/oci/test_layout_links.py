"""Copies between two OCI layouts on one filesystem hard-link the blobs (no bytes move; what
gives each harness test its own layout at no cost); a blob that is not what its descriptor
says is still refused, as a streamed copy refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.layer_tar import Layer
from cnbsdk.oci.layout import OciLayout
from tests.image_helpers import read_image_ref


def blob_digests(layout: Path, tag: str) -> list[str]:
    manifest = json.loads(OciLayout(layout).manifest_of(OciLayout(layout).resolve(tag))[0])
    return [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]


def test_a_copy_to_another_layout_links_every_blob_and_reads_the_same(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, digest, _layer = oci_image
    report = copy_image(ref, f"oci:{tmp_path / 'copy'}:v1")
    assert report.manifest_digest == digest
    source, copy = OciLayout(tmp_path / "layout"), OciLayout(tmp_path / "copy")
    for blob in blob_digests(tmp_path / "layout", "v1"):
        assert copy.blob_path(blob).stat().st_ino == source.blob_path(blob).stat().st_ino
    assert read_image_ref(f"oci:{tmp_path / 'copy'}:v1")[2] == read_image_ref(ref)[2]
    # Linking again (the blob is there) is no error, and nothing is copied twice.
    again = copy_image(ref, f"oci:{tmp_path / 'copy'}:v2")
    assert again.copied == [] and len(again.skipped) == len(report.copied)


def test_a_blob_of_the_wrong_size_is_not_linked_and_the_copy_fails_in_one_line(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, _digest, layer = oci_image
    blob = OciLayout(tmp_path / "layout").blob_path(layer.digest)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-10])  # truncated

    with pytest.raises(ImageError) as caught:
        copy_image(ref, f"oci:{tmp_path / 'copy'}:v1")
    assert "\n" not in str(caught.value) and layer.digest in str(caught.value)
    assert not OciLayout(tmp_path / "copy").blob_path(layer.digest).exists()
