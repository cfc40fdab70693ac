"""Reproducible layer tars: ordering, normalised metadata, links, digests in one pass."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.layer_tar import (
    NORMALIZED_MTIME,
    ParentDir,
    TarEntry,
    write_layer_from_dir,
    write_layer_from_entries,
)
from tests.oci.conftest import make_tree


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def test_digests_sizes_and_diff_id_describe_the_written_blob(tree: Path, tmp_path: Path) -> None:
    layer = write_layer_from_dir(tree, tmp_path / "out", prefix="/layers/bp/l")
    blob = layer.path.read_bytes()
    assert layer.media_type == mt.OCI_LAYER_GZIP
    assert layer.digest == _sha256(blob)
    assert layer.size == len(blob)
    assert layer.diff_id == _sha256(gzip.decompress(blob))
    # gzip header: no file name flag, mtime 0 — so the digest never depends on when or where
    assert blob[3] == 0
    assert blob[4:8] == b"\0\0\0\0"
    plain = write_layer_from_dir(tree, tmp_path / "plain", prefix="/layers/bp/l", compress=False)
    assert plain.media_type == mt.OCI_LAYER
    assert plain.digest == plain.diff_id == layer.diff_id == _sha256(plain.path.read_bytes())


def test_same_tree_gives_same_diff_id_whatever_mtimes_owners_and_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        first = make_tree(tmp_path / "one")
        os.umask(0o077)
        second = make_tree(tmp_path / "two")
    finally:
        os.umask(old_umask)
    assert (second / "bin" / "tool").stat().st_mode & 0o777 != (
        first / "bin" / "tool"
    ).stat().st_mode & 0o777 or (second / "lib").stat().st_mode != (first / "lib").stat().st_mode
    for index, path in enumerate(sorted(second.rglob("*"))):
        os.utime(path, (1_000_000 + index, 2_000_000_000 - index), follow_symlinks=False)
        if os.geteuid() == 0:
            os.chown(path, 4321 + index, 8765, follow_symlinks=False)
    a = write_layer_from_dir(first, tmp_path / "a", prefix="/layers/bp/l", uid=1000, gid=1001)
    b = write_layer_from_dir(second, tmp_path / "b", prefix="/layers/bp/l", uid=1000, gid=1001)
    assert a.diff_id == b.diff_id
    assert a.digest == b.digest
    assert a.path.read_bytes() == b.path.read_bytes()
    changed = make_tree(tmp_path / "three")
    (changed / "bin" / "tool").write_text("other\n")
    c = write_layer_from_dir(changed, tmp_path / "c", prefix="/layers/bp/l", uid=1000, gid=1001)
    assert c.diff_id != a.diff_id


def test_entries_are_sorted_absolute_and_normalised(tree: Path, tmp_path: Path) -> None:
    layer = write_layer_from_dir(
        tree,
        tmp_path / "out",
        prefix="/layers/example_ruby/ruby",
        uid=1000,
        gid=1001,
        parents=[
            ParentDir("/layers", 0o755, 0, 0),
            ParentDir("/layers/example_ruby", 0o750, 1000, 1001),
        ],
    )
    members = _members(layer.path)
    names = [m.name for m in members]
    assert names[:3] == ["/layers", "/layers/example_ruby", "/layers/example_ruby/ruby"]
    assert all(name.startswith("/layers") for name in names)
    # depth first, siblings by name: a directory's children follow it directly
    assert names.index("/layers/example_ruby/ruby/lib/deep/er/data.txt") < names.index(
        "/layers/example_ruby/ruby/lib/empty"
    )
    assert (members[0].uid, members[0].gid, members[0].mode) == (0, 0, 0o755)
    assert (members[1].uid, members[1].gid, members[1].mode) == (1000, 1001, 0o750)
    for member in members[2:]:
        assert (member.uid, member.gid) == (1000, 1001)
    for member in members:
        assert member.mtime == NORMALIZED_MTIME
        assert member.uname == "" and member.gname == ""
        assert not any(key.startswith("SCHILY.xattr") for key in member.pax_headers)
    by_name = {m.name: m for m in members}
    base = "/layers/example_ruby/ruby"
    assert by_name[f"{base}/bin/tool"].mode == 0o755
    assert by_name[f"{base}/lib/deep/er/data.txt"].mode == 0o644
    assert by_name[f"{base}/lib/link"].issym()
    assert by_name[f"{base}/lib/link"].linkname == "deep/er/data.txt"
    hard = by_name[f"{base}/lib/deep/er/data.txt"], by_name[f"{base}/hard"]
    # "hard" sorts before "lib": it is written in full, and data.txt becomes the link
    assert hard[1].isfile() and hard[0].islnk() and hard[0].linkname == f"{base}/hard"
    assert f"{base}/long-" + "n" * 140 + ".txt" in by_name
    assert f"{base}/unicodé.txt" in by_name


def test_gnu_tar_reads_the_layer(tree: Path, tmp_path: Path) -> None:
    layer = write_layer_from_dir(tree, tmp_path / "out", prefix="/app")
    listing = subprocess.run(
        ["tar", "-tzf", str(layer.path)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert "/app/lib/deep/er/data.txt" in listing
    assert "/app/long-" + "n" * 140 + ".txt" in listing


def test_modes_can_be_kept_for_base_images(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("root:*:1::::::\n")
    (root / "etc" / "shadow").chmod(0o640)
    kept = write_layer_from_dir(root, tmp_path / "a", normalize_modes=False)
    normal = write_layer_from_dir(root, tmp_path / "b")
    assert {m.name: m.mode for m in _members(kept.path)}["/etc/shadow"] == 0o640
    assert {m.name: m.mode for m in _members(normal.path)}["/etc/shadow"] == 0o644


def test_layer_from_entries(tmp_path: Path) -> None:
    source = tmp_path / "launcher"
    source.write_bytes(b"\x7fELF" + b"x" * 5000)
    layer = write_layer_from_entries(
        [
            TarEntry.symlink("/cnb/process/web", "/cnb/lifecycle/launcher"),
            TarEntry.file("/cnb/lifecycle/launcher", source=source, mode=0o755),
            TarEntry.dir("/cnb/process"),
            TarEntry.dir("/cnb"),
            TarEntry.dir("/cnb/lifecycle"),
            TarEntry.file("/cnb/readme", b"hello"),
        ],
        tmp_path / "out",
    )
    members = _members(layer.path)
    assert [m.name for m in members] == [
        "/cnb",
        "/cnb/lifecycle",
        "/cnb/lifecycle/launcher",
        "/cnb/process",
        "/cnb/process/web",
        "/cnb/readme",
    ]
    with tarfile.open(layer.path) as tar:
        assert tar.extractfile("/cnb/lifecycle/launcher").read() == source.read_bytes()
        assert tar.extractfile("/cnb/readme").read() == b"hello"
    again = write_layer_from_entries(
        [TarEntry.dir("/cnb"), TarEntry.file("/cnb/readme", b"hello")], tmp_path / "x"
    )
    same = write_layer_from_entries(
        [TarEntry.file("/cnb/readme", b"hello"), TarEntry.dir("/cnb")], tmp_path / "y"
    )
    assert again.diff_id == same.diff_id


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([TarEntry.file("/a/../../etc/passwd", b"x")], "'..'"),
        ([TarEntry("/b", "hardlink", linkname="/a"), TarEntry.file("/a", b"x")], "not earlier"),
    ],
)
def test_bad_entries_are_refused_and_leave_nothing(
    entries: list[TarEntry], says: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(ImageError, match=says):
        write_layer_from_entries(entries, out, sort=False)
    assert not any(out.iterdir())


def test_missing_source_directory_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        write_layer_from_dir(tmp_path / "nope", tmp_path / "out")
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
