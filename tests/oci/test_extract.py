"""Safe extraction: crafted tars are refused and nothing lands outside the target."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from cnbsdk.errors import ExtractionError
from cnbsdk.oci.extract import MAX_DEPTH, extract_layer
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_dir, write_layer_from_entries


def _tar(path: Path, entries: list[tuple[str, str, str | bytes]], *, gz: bool = False) -> Path:
    """A tar of (name, kind, payload) entries: kind is file, dir, sym, link, chr or fifo."""
    with tarfile.open(path, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            data = b""
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, str(payload)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, str(payload)
            elif kind == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data else None)
    return path


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """(target, sentinel): the sentinel dir sits beside the target and must stay empty."""
    target = tmp_path / "root" / "target"
    target.mkdir(parents=True)
    sentinel = tmp_path / "root" / "sentinel"
    sentinel.mkdir()
    return target, sentinel


def _untouched(sentinel: Path) -> None:
    assert list(sentinel.iterdir()) == []
    assert not (sentinel.parent / "evil").exists()
    assert not (sentinel.parent.parent / "evil").exists()


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        ([("../evil", "file", "x")], "'..'"),
        ([("a/../../evil", "file", "x")], "'..'"),
        ([("/../evil", "file", "x")], "'..'"),
        ([("ok", "dir", ""), ("ok/../../sentinel/evil", "file", "x")], "'..'"),
        ([("up", "sym", "../../sentinel")], "leaves the root"),
        ([("a/b", "sym", "../../../sentinel")], "leaves the root"),
        ([("hl", "link", "../sentinel/secret")], "'..'"),
        ([("hl", "link", "/etc/passwd")], "does not exist"),
        ([("dev/null", "chr", "")], "device node"),
        ([("run/pipe", "fifo", "")], "fifo"),
    ],
)
def test_crafted_entries_are_refused(
    entries: list[tuple[str, str, str]], says: str, sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    target, sentinel = sandbox
    (sentinel.parent / "outside-file").write_text("keep")
    layer = _tar(tmp_path / "evil.tar", entries)
    with pytest.raises(ExtractionError) as caught:
        extract_layer(layer, target)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
    assert entries[-1][0] in str(caught.value)  # the error names the entry
    _untouched(sentinel)
    assert (sentinel.parent / "outside-file").read_text() == "keep"


def test_symlink_then_write_through_it_is_refused(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    target, sentinel = sandbox
    layer = _tar(
        tmp_path / "evil.tar.gz",
        [("link", "sym", str(sentinel)), ("link/pwned", "file", "gotcha")],
        gz=True,
    )
    with pytest.raises(ExtractionError, match=r"link/pwned.*symlink"):
        extract_layer(layer, target)
    _untouched(sentinel)
    # the absolute link itself is fine: in the image it points inside the root
    assert os.readlink(target / "link") == str(sentinel)


def test_a_file_replacing_a_symlink_does_not_follow_it(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    target, sentinel = sandbox
    (sentinel.parent / "victim").write_text("original")
    lower = _tar(tmp_path / "lower.tar", [("victim", "sym", str(sentinel.parent / "victim"))])
    upper = _tar(tmp_path / "upper.tar", [("victim", "file", "new content")])
    extract_layer(lower, target)
    extract_layer(upper, target)
    assert (target / "victim").read_text() == "new content"
    assert not (target / "victim").is_symlink()
    assert (sentinel.parent / "victim").read_text() == "original"


def test_ten_thousand_nested_directories_are_refused_without_crashing(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    target, sentinel = sandbox
    entries = [("/".join(["d"] * depth), "dir", "") for depth in range(1, 10_001)]
    layer = _tar(tmp_path / "deep.tar", entries)
    with pytest.raises(ExtractionError, match=f"deeper than {MAX_DEPTH}"):
        extract_layer(layer, target)
    _untouched(sentinel)


def test_trees_up_to_the_depth_limit_extract(sandbox: tuple[Path, Path], tmp_path: Path) -> None:
    target, _ = sandbox
    deepest = "/".join(["d"] * (MAX_DEPTH - 1)) + "/leaf"
    layer = _tar(tmp_path / "ok.tar", [(deepest, "file", "bottom")])
    extract_layer(layer, target)
    assert (target / deepest).read_text() == "bottom"


def test_devices_are_created_only_when_allowed(sandbox: tuple[Path, Path], tmp_path: Path) -> None:
    target, _ = sandbox
    layer = _tar(tmp_path / "fifo.tar", [("run/pipe", "fifo", "")])
    extract_layer(layer, target, allow_devices=True)
    assert stat.S_ISFIFO(os.lstat(target / "run" / "pipe").st_mode)


def test_whiteouts_remove_lower_files_and_opaque_dirs(
    sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    target, _ = sandbox
    lower = _tar(
        tmp_path / "lower.tar",
        [
            ("a/x", "file", "x"),
            ("a/y", "file", "y"),
            ("b/old1", "file", "1"),
            ("b/sub/old2", "file", "2"),
            ("c/tree/deep/f", "file", "f"),
        ],
    )
    upper = _tar(
        tmp_path / "upper.tar",
        [
            ("a/.wh.x", "file", ""),
            ("b/new", "file", "n"),
            ("b/.wh..wh..opq", "file", ""),
            ("c/.wh.tree", "file", ""),
            ("a/.wh.never-existed", "file", ""),
        ],
    )
    extract_layer(lower, target)
    report = extract_layer(upper, target)
    assert report.whiteouts == 4
    assert sorted(p.name for p in (target / "a").iterdir()) == ["y"]
    assert sorted(p.name for p in (target / "b").iterdir()) == ["new"]
    assert list((target / "c").iterdir()) == []
    assert not any(p.name.startswith(".wh.") for p in target.rglob("*"))


def test_round_trip_of_a_written_layer(tree: Path, tmp_path: Path) -> None:
    layer = write_layer_from_dir(tree, tmp_path / "out", prefix="/layers/bp/l")
    target = tmp_path / "unpacked"
    extract_layer(layer.path, target)
    root = target / "layers" / "bp" / "l"
    for path in tree.rglob("*"):
        twin = root / path.relative_to(tree)
        if path.is_symlink():
            assert os.readlink(twin) == os.readlink(path)
        elif path.is_file():
            assert twin.read_bytes() == path.read_bytes()
            assert twin.stat().st_mode & 0o111 == path.stat().st_mode & 0o111
        else:
            assert twin.is_dir()
    assert (
        os.stat(root / "hard").st_ino == os.stat(root / "lib" / "deep" / "er" / "data.txt").st_ino
    )


def test_read_only_directories_are_still_filled(tmp_path: Path) -> None:
    layer = write_layer_from_entries(
        [TarEntry.dir("/ro", mode=0o555), TarEntry.file("/ro/file", b"x")],
        tmp_path / "out",
    )
    extract_layer(layer.path, tmp_path / "t")
    assert (tmp_path / "t" / "ro" / "file").read_bytes() == b"x"
    assert (tmp_path / "t" / "ro").stat().st_mode & 0o777 == 0o555
    (tmp_path / "t" / "ro").chmod(0o755)


def test_garbage_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(ExtractionError, match="not a valid layer tar"):
        extract_layer(bad, tmp_path / "t")
