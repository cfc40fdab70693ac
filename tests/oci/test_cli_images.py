"""The image commands as a user runs them: copy, inspect, images, images rm."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.oci.layer_tar import Layer


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_copy_into_the_store_then_list_inspect_and_remove(
    oci_image: tuple[str, str, Layer], store_home: Path
) -> None:
    ref, digest, layer = oci_image
    code, out, _ = run("copy", ref, "team/app:1")
    assert code == 0
    assert "Copied 2 blobs" in out and digest in out
    code, out, _ = run("copy", ref, "team/app:2")
    assert code == 0 and "Copied 0 blobs" in out and "skipped 2" in out

    code, out, _ = run("images")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "TAG", "DIGEST", "SIZE", "CREATED"]
    assert [line.split()[:2] for line in lines[1:]] == [["team/app", "1"], ["team/app", "2"]]
    listing = json.loads(run("images", "--json")[1])
    assert listing[0]["digest"] == digest and listing[0]["created"] == "1980-01-01T00:00:01Z"
    assert listing[0]["size"] > layer.size

    code, out, _ = run("inspect", "team/app:1")
    assert code == 0
    assert f"Digest:      {digest}" in out
    assert "Platform:    linux/amd64" in out
    assert 'Entrypoint:  ["/layers/bp/layer/bin/tool"]' in out
    assert "  org.example=yes" in out
    assert layer.diff_id in out
    data = json.loads(run("inspect", "--json", "team/app:1")[1])
    assert data["layers"] == [
        {"digest": layer.digest, "size": layer.size, "diffID": layer.diff_id,
         "mediaType": layer.media_type}
    ]  # fmt: skip
    assert data["user"] == "1000:1000" and data["workingDir"] == "/workspace"
    assert data["cmd"] == ["--serve"]

    code, out, _ = run("images", "rm", "team/app:1")
    assert code == 0 and "freed 0 blobs" in out  # team/app:2 still uses them
    code, out, _ = run("images", "rm", "team/app:2")
    assert code == 0 and "freed 3 blobs" in out
    assert json.loads(run("images", "--json")[1]) == []
    assert list((store_home / "images" / "blobs" / "sha256").iterdir()) == []


def test_inspect_reads_every_local_transport(
    oci_image: tuple[str, str, Layer], tmp_path: Path, store_home: Path
) -> None:
    ref, _, _ = oci_image
    archive = f"docker-archive:{tmp_path / 'a.tar'}:app:1"
    assert run("copy", ref, archive)[0] == 0
    assert run("copy", archive, "app:1")[0] == 0
    for reference in (ref, archive, "app:1"):
        data = json.loads(run("inspect", "--json", reference)[1])
        assert data["labels"]["org.example"] == "yes"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("inspect", "Not/Valid"), "invalid image reference"),
        (("inspect", "missing:1"), "no image missing:1 in the local store"),
        (("copy", "oci:/nonexistent/layout", "x:1"), "not an OCI image layout"),
        (("copy", "docker-archive:/nonexistent.tar", "x:1"), "docker-archive not found"),
        (("images", "rm", "missing:1"), "no image missing:1"),
        (("images", "rm", "oci:/tmp/x"), "not a local store reference"),
    ],
)
def test_bad_references_give_one_line_and_exit_1(
    args: tuple[str, ...], says: str, store_home: Path
) -> None:
    code, out, err = run(*args)
    assert code == 1
    assert err.startswith("error: ") and says in err
    assert err.count("\n") == 1
    assert "Traceback" not in out + err


def test_a_failed_copy_leaves_no_half_written_archive(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, _, layer = oci_image
    layer_blob = Path(ref.removeprefix("oci:").rsplit(":", 1)[0]) / "blobs" / "sha256"
    (layer_blob / layer.digest.split(":")[1]).write_bytes(b"corrupted")
    code, _, err = run("copy", ref, f"docker-archive:{tmp_path / 'out.tar'}")
    assert code == 1 and "does not match" in err
    assert not (tmp_path / "out.tar").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tar")]
    code, _, err = run("copy", ref, f"oci:{tmp_path / 'fresh'}:x")
    assert code == 1
    assert not (tmp_path / "fresh").exists()


def test_a_layer_with_a_damaged_gzip_stream_is_one_line_and_writes_no_archive(
    oci_image: tuple[str, str, Layer], tmp_path: Path
) -> None:
    ref, _, layer = oci_image
    blobs = Path(ref.removeprefix("oci:").rsplit(":", 1)[0]) / "blobs" / "sha256"
    with open(blobs / layer.digest.split(":")[1], "ab") as blob:
        blob.write(b"trailing bytes that are not a gzip member")
    code, out, err = run("copy", ref, f"docker-archive:{tmp_path / 'out.tar'}")
    assert code == 1
    assert err == f"error: blob {layer.digest} is not valid gzip data " + (
        "(Error -3 while decompressing data: incorrect header check)\n"
    )
    assert "Traceback" not in out
    assert not (tmp_path / "out.tar").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.tar")]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x1f\x8b" + b"x" * 30, "Unknown compression method"),
        (
            gzip.compress(bytes(range(256)) * 64, mtime=0)[:200],
            "Compressed file ended before the end-of-stream",
        ),
        (gzip.compress(b"not a tar at all", mtime=0), "not a docker-archive tar"),
    ],
)
def test_a_damaged_gzipped_archive_is_one_line_and_leaves_no_temporary_copy(
    content: bytes, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    archive = tmp_path / "saved.tar.gz"
    archive.write_bytes(content)
    code, out, err = run("inspect", f"docker-archive:{archive}")
    assert code == 1
    assert err.startswith(f"error: {archive}: ") and says in err and err.count("\n") == 1
    assert "Traceback" not in out
    assert list(scratch.iterdir()) == []
