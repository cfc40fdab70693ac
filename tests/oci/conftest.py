"""Fixtures for the image tests: a sample tree, a sample image, an isolated local store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import Layer, ParentDir, write_layer_from_dir
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_destination


def make_tree(root: Path) -> Path:
    """A small tree with the kinds of entries layers carry."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (root / "bin" / "tool").chmod(0o755)
    (root / "lib" / "deep" / "er").mkdir(parents=True)
    (root / "lib" / "deep" / "er" / "data.txt").write_text("data\n" * 1000)
    (root / "lib" / "empty").mkdir()
    (root / "lib" / "link").symlink_to("deep/er/data.txt")
    os.link(root / "lib" / "deep" / "er" / "data.txt", root / "hard")
    (root / ("long-" + "n" * 140 + ".txt")).write_text("long name\n")
    (root / "unicodé.txt").write_text("é\n")
    return root


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


@pytest.fixture
def store_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$CNBSDK_HOME pointed at a temp dir, so the local store is the test's own."""
    home = tmp_path / "cnbsdk-home"
    monkeypatch.setenv("CNBSDK_HOME", str(home))
    return home


SAMPLE_CONFIG = ImageConfig(
    env=("PATH=/usr/local/bin:/usr/bin:/bin", "CNB_USER_ID=1000"),
    user="1000:1000",
    entrypoint=("/layers/bp/layer/bin/tool",),
    cmd=("--serve",),
    working_dir="/workspace",
    labels={"io.buildpacks.base.id": "io.cnbsdk.test", "org.example": "yes"},
)


def make_image(tree: Path, work: Path, reference: str) -> tuple[str, Layer]:
    """Write a one-layer image of ``tree`` to ``reference``; return (digest, layer)."""
    layer = write_layer_from_dir(
        tree,
        work / "layers",
        prefix="/layers/bp/layer",
        uid=1000,
        gid=1000,
        parents=[ParentDir("/layers"), ParentDir("/layers/bp", uid=1000, gid=1000)],
    )
    dest = open_destination(reference)
    try:
        digest = write_image(dest, SAMPLE_CONFIG, [layer])
    finally:
        dest.close()
    return digest, layer


@pytest.fixture
def oci_image(tree: Path, tmp_path: Path) -> tuple[str, str, Layer]:
    """An image cnbsdk wrote to an OCI layout: (reference, manifest digest, layer)."""
    reference = f"oci:{tmp_path / 'layout'}:v1"
    digest, layer = make_image(tree, tmp_path, reference)
    return reference, digest, layer
