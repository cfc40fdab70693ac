"""Unpacking a build image for the sandbox (cnbsdk.lifecycle.rootfs): layers in order with
whiteouts, the tree cached under its manifest digest, reuse, and never a half tree under the
final name — a corrupt blob, a killed unpack and concurrent unpacks. Starts: the real stack
build image (cnbsdk.stacks) for the kill test, extra Python processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError, ImageError
from cnbsdk.lifecycle.rootfs import unpacked_rootfs
from cnbsdk.oci.digest import digest_hex
from cnbsdk.oci.image_writer import write_image
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries
from cnbsdk.oci.layout import OciLayout
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_destination
from cnbsdk.stacks.create import create_stack
from tests.image_helpers import shipped_stack_today

PASSWD = b"root:x:0:0:root:/root:/bin/sh\ncnb:x:1000:1000:cnb:/home/cnb:/bin/sh\n"
CONFIG = ImageConfig(env=("PATH=/usr/bin:/bin", "CNB_USER_ID=1000", "CNB_GROUP_ID=1001"))


def small_image(work: Path, config: ImageConfig = CONFIG) -> tuple[str, str]:
    """A two-layer image: the second replaces a file and whites one out. (ref, digest)."""
    base = write_layer_from_entries(
        [
            TarEntry.dir("/usr/bin"),
            TarEntry.file("/usr/bin/tool", b"old\n", mode=0o755),
            TarEntry.file("/etc/passwd", PASSWD),
            TarEntry.symlink("/etc/resolv.conf", "../run/resolv.conf"),
            TarEntry.dir("/home/cnb", uid=1000, gid=1000),
            TarEntry.dir("/etc/locked", mode=0o555),
            TarEntry.file("/etc/locked/file", b"x\n", mode=0o400),
            TarEntry.file("/gone", b"deleted by the next layer\n"),
        ],
        work / "blobs",
    )
    top = write_layer_from_entries(
        [TarEntry.file("/usr/bin/tool", b"new\n", mode=0o755), TarEntry.file("/.wh.gone")],
        work / "blobs",
    )
    reference = f"oci:{work / 'layout'}:build"
    dest = open_destination(reference)
    try:
        digest = write_image(dest, config, [base, top])
    finally:
        dest.close()
    return reference, digest


def test_layers_are_applied_in_order_under_the_manifest_digest(tmp_path: Path) -> None:
    reference, digest = small_image(tmp_path)
    cache = tmp_path / "cache"
    image = unpacked_rootfs(reference, cache_dir=cache)

    assert image.digest == digest
    assert image.rootfs == cache / digest_hex(digest)
    assert (image.rootfs / "usr/bin/tool").read_text() == "new\n"
    assert not (image.rootfs / "gone").exists()
    assert image.config.env_dict()["CNB_USER_ID"] == "1000"
    assert image.user_ids == (1000, 1001)
    # What the sandbox mounts onto exists; the image's resolv.conf symlink (pointing outside
    # what bwrap can bind) became a plain file.
    for directory in ("workspace", "layers", "platform", "cnb/buildpacks", "cnb/build-config"):
        assert (image.rootfs / directory).is_dir(), directory
    assert (image.rootfs / "home/cnb").is_dir()
    resolv = image.rootfs / "etc/resolv.conf"
    assert resolv.is_file() and not resolv.is_symlink()
    assert sorted(p.name for p in cache.iterdir()) == [
        image.rootfs.name,
        image.rootfs.name + ".compiled",
        image.rootfs.name + ".lock",
    ]


def test_a_cached_tree_is_reused_not_unpacked_again(tmp_path: Path) -> None:
    reference, _ = small_image(tmp_path)
    cache = tmp_path / "cache"
    first = unpacked_rootfs(reference, cache_dir=cache)
    marker = first.rootfs / "tmp" / "marker"
    marker.write_text("kept")
    second = unpacked_rootfs(reference, cache_dir=cache)
    assert second.rootfs == first.rootfs
    assert marker.read_text() == "kept"


def test_a_corrupt_layer_blob_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    reference, digest = small_image(tmp_path)
    layout = OciLayout(tmp_path / "layout")
    manifest = json.loads(layout.read_blob(digest))
    blob = layout.blob_path(manifest["layers"][1]["digest"])
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-12] ^= 0xFF  # inside the gzip trailer: decompresses, but the digest differs
    blob.write_bytes(bytes(data))
    cache = tmp_path / "cache"

    with pytest.raises(ImageError) as caught:
        unpacked_rootfs(reference, cache_dir=cache)
    assert "digest" in str(caught.value) and "\n" not in str(caught.value)
    assert [p.name for p in cache.iterdir()] == [digest_hex(digest) + ".lock"]


def test_missing_cnb_user_id_is_a_one_line_error_naming_the_field(tmp_path: Path) -> None:
    reference, _ = small_image(tmp_path, ImageConfig(env=("CNB_GROUP_ID=1000",)))
    image = unpacked_rootfs(reference, cache_dir=tmp_path / "cache")
    with pytest.raises(BuildError) as caught:
        image.user_ids  # noqa: B018
    assert str(caught.value) == "config.Env.CNB_USER_ID: the build image's CNB_USER_ID is not set"


_UNPACK = "import sys; from pathlib import Path; from cnbsdk.lifecycle.rootfs import unpacked_rootfs; print(unpacked_rootfs(sys.argv[1], cache_dir=Path(sys.argv[2])).rootfs)"  # noqa: E501


def _unpack_process(reference: str, cache: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _UNPACK, reference, str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_concurrent_unpacks_agree_and_leave_one_tree(tmp_path: Path) -> None:
    reference, digest = small_image(tmp_path)
    cache = tmp_path / "cache"
    processes = [_unpack_process(reference, cache) for _ in range(3)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0], outputs
    assert {out.strip() for out, _ in outputs} == {str(cache / digest_hex(digest))}
    assert sorted(p.name for p in cache.iterdir()) == [
        digest_hex(digest),
        digest_hex(digest) + ".compiled",
        digest_hex(digest) + ".lock",
    ]


def test_a_killed_unpack_of_the_stack_build_image_is_redone_next_time(tmp_path: Path) -> None:
    """The real build image (~400 MB unpacked) is killed mid-unpack with SIGKILL."""
    shipped_stack_today(tmp_path)
    layout = tmp_path / "layout"
    create_stack(
        tmp_path / "stack-definition.toml",
        build_image=f"oci:{layout}:build",
        run_image=f"oci:{layout}:run",
    )
    reference = f"oci:{layout}:build"
    cache = tmp_path / "cache"
    process = _unpack_process(reference, cache)
    deadline = time.monotonic() + 30
    while not any(p.name.startswith(".partial-") for p in _children(cache)):
        assert time.monotonic() < deadline and process.poll() is None, "the unpack never started"
        time.sleep(0.02)
    time.sleep(0.5)  # well into the layers
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    leftovers = _children(cache)
    assert not [
        p
        for p in leftovers
        if not p.name.startswith(".") and p.suffix not in (".lock", ".compiled")
    ]
    image = unpacked_rootfs(reference, cache_dir=cache)
    assert (image.rootfs / "usr/bin/bash").is_file()
    assert (image.rootfs / "etc/passwd").read_text().count("cnb:x:1000:1000") == 1
    assert sorted(p.name for p in cache.iterdir()) == [
        image.rootfs.name,
        image.rootfs.name + ".compiled",
        image.rootfs.name + ".lock",
    ]


def _children(directory: Path) -> list[Path]:
    return list(directory.iterdir()) if directory.is_dir() else []


def test_the_build_image_python_standard_library_is_byte_compiled_once(tmp_path: Path) -> None:
    """No maintainer script ran in the stack image, so Debian's py3compile did not either:
    the unpacked tree gets the .pyc files once, and Python buildpacks stop compiling the
    standard library in every phase."""
    from cnbsdk.lifecycle.default_stack import DEFAULT_BUILD_IMAGE, default_stack

    default_stack()
    image = unpacked_rootfs(DEFAULT_BUILD_IMAGE, cache_dir=tmp_path / "cache")
    compiled = list((image.rootfs / "usr/lib").glob("python3*/__pycache__/dataclasses.*.pyc"))
    assert compiled, "the standard library is compiled"
    marker = tmp_path / "cache" / f"{image.rootfs.name}.compiled"
    assert marker.exists()
    marker.unlink()  # a tree unpacked by an older cnbsdk: compiled on its next use
    for pyc in (image.rootfs / "usr/lib").glob("python3*/__pycache__/*.pyc"):
        pyc.unlink()
    unpacked_rootfs(DEFAULT_BUILD_IMAGE, cache_dir=tmp_path / "cache")
    assert list((image.rootfs / "usr/lib").glob("python3*/__pycache__/dataclasses.*.pyc"))
    assert marker.exists()
