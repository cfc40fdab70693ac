"""Downloads from a real HTTP server on loopback (tests/deps/http_files.py), checksum
verification, offline copies, mirrors and unpacking into a layer."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from cnbsdk.deps import (
    Dependencies,
    DependencyError,
    bundle_dependencies,
    download,
    offline_artifact,
)
from cnbsdk.deps.archive import install_artifact
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from tests.deps.http_files import FileServer


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tarball(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith("/bin/tool") else 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


def descriptor(uri: str, checksum: str, strip: int = 0) -> BuildpackDescriptor:
    return BuildpackDescriptor.from_toml(
        f'''
api = "0.10"
[buildpack]
id = "examples/tool"
version = "1.0.0"
[[metadata.dependencies]]
id = "tool"
version = "1.4.2"
uri = "{uri}"
checksum = "{checksum}"
strip-components = {strip}
'''
    )


def test_download_verifies_the_checksum_while_streaming(
    file_server: FileServer, tmp_path: Path
) -> None:
    data = b"tool binary\n" * 1000
    url = file_server.put("tool-1.4.2", data)
    path = download(url, sha(data), tmp_path / "tool")
    assert path.read_bytes() == data


def test_a_checksum_mismatch_names_both_sums_and_leaves_nothing(
    file_server: FileServer, tmp_path: Path
) -> None:
    data = b"tampered"
    url = file_server.put("tool.tgz", data)
    expected = "sha256:" + "0" * 64
    with pytest.raises(DependencyError) as caught:
        download(url, expected, tmp_path / "out" / "tool.tgz")
    message = str(caught.value)
    assert f"expected {expected}, got {sha(data)}" in message
    assert url in message and "\n" not in message
    assert list((tmp_path / "out").iterdir()) == []


def test_http_errors_and_unreachable_servers_are_one_line(
    file_server: FileServer, tmp_path: Path
) -> None:
    with pytest.raises(DependencyError, match="HTTP 404"):
        download(file_server.url("missing.tgz"), sha(b""), tmp_path / "x")
    file_server.stop()
    with pytest.raises(DependencyError, match="download failed"):
        download(file_server.url("missing.tgz"), sha(b""), tmp_path / "x")


def test_deliver_unpacks_with_strip_components(file_server: FileServer, tmp_path: Path) -> None:
    data = tarball({"tool-1.4.2/bin/tool": b"#!/bin/sh\necho tool\n", "tool-1.4.2/README": b"r"})
    bp = tmp_path / "bp"
    bp.mkdir()
    deps = Dependencies(descriptor(file_server.put("tool.tgz", data), sha(data), 1), bp)
    layer = tmp_path / "layer"
    deps.deliver(deps.resolve("tool", "1.*"), layer)
    assert (layer / "bin" / "tool").read_text() == "#!/bin/sh\necho tool\n"
    assert (layer / "bin" / "tool").stat().st_mode & 0o111
    assert (layer / "README").is_file()


def test_offline_copy_is_used_first_and_the_network_not_at_all(
    file_server: FileServer, tmp_path: Path
) -> None:
    data = b"plain file dependency"
    bp = tmp_path / "bp"
    bp.mkdir()
    bp_descriptor = descriptor(file_server.put("tool-1.4.2.jar", data), sha(data))
    bundled = bundle_dependencies(bp_descriptor.metadata.dependencies, bp)
    hex_sum = sha(data).split(":")[1]
    assert bundled == [bp / "dependencies" / hex_sum / "tool-1.4.2.jar"]
    assert 'version = "1.4.2"' in (bp / "dependencies" / f"{hex_sum}.toml").read_text()
    file_server.stop()
    served = len(file_server.requests)
    deps = Dependencies(bp_descriptor, bp)
    dependency = deps.resolve("tool")
    assert offline_artifact(bp, dependency) == bundled[0]
    deps.deliver(dependency, tmp_path / "layer")
    assert (tmp_path / "layer" / "tool-1.4.2.jar").read_bytes() == data
    assert len(file_server.requests) == served


def test_a_mirror_from_the_environment_is_followed(file_server: FileServer, tmp_path: Path) -> None:
    data = b"mirrored"
    mirror = tmp_path / "mirror"
    (mirror / "pkgs").mkdir(parents=True)
    (mirror / "pkgs" / "tool.bin").write_bytes(data)
    bp = tmp_path / "bp"
    bp.mkdir()
    deps = Dependencies(
        descriptor("https://downloads.example.invalid/pkgs/tool.bin", sha(data)),
        bp,
        environ={"BP_DEPENDENCY_MIRROR_DOWNLOADS_EXAMPLE_INVALID": mirror.as_uri()},
    )
    deps.deliver(deps.resolve("tool"), tmp_path / "layer")
    assert (tmp_path / "layer" / "tool.bin").read_bytes() == data


@pytest.mark.parametrize(
    ("files", "symlinks", "refused"),
    [
        ({"../evil": b"x"}, None, "'..'"),
        ({}, {"link": "/etc"}, "points outside"),
        ({}, {"up": "../../.."}, "points outside"),
    ],
    ids=["dotdot", "absolute-symlink", "climbing-symlink"],
)
def test_unsafe_archives_are_refused(
    tmp_path: Path, files: dict[str, bytes], symlinks: dict[str, str] | None, refused: str
) -> None:
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(tarball(files, symlinks=symlinks))
    with pytest.raises(DependencyError, match=refused):
        install_artifact(archive, tmp_path / "layer" / "inner")
    assert not (tmp_path / "layer" / "evil").exists()
    assert not (tmp_path / "evil").exists()
