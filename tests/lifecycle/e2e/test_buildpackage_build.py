"""`cnbsdk build --buildpack` with buildpackages: images straight from a registry, `.cnb`
files, project.toml `uri`s, composites (their members come along), and `--offline`
packages building with `--network none`.

Starts: bubblewrap (buildpacks run inside the build image; `--network none` cuts them off
every network, loopback included), the real docker-registry on loopback
(tests/registry_server.py), a loopback HTTP server for a dependency (tests/deps/http_files.py),
the C compiler (once, for the launcher).
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

import pytest

from cnbsdk.lifecycle.default_stack import DefaultStack
from cnbsdk.oci.open import open_source
from tests.deps import http_files
from tests.deps.http_files import FileServer
from tests.distribution.test_buildpackage import evil_cnb
from tests.distribution.test_buildpackage_offline import plugin, tool_archive
from tests.lifecycle.e2e.conftest import buildpack, cnbsdk, read_app_image
from tests.registry_server import RegistryServer

file_server = http_files.file_server  # the loopback HTTP server fixture


def _build(app: Path, image: str, cache: Path, *extra: str):
    return cnbsdk("build", str(app), "--image", image, "--cache-dir", str(cache), *extra)


def _detected(output: str) -> list[str]:
    return output.split("===> DETECTING\n")[1].split("===> RESTORING")[0].strip().splitlines()


def _package(source: str | Path, output: str, *extra: str):
    result = cnbsdk("package", "buildpack", str(source), "--output", output, *extra)
    assert result.exit_code == 0, result.output
    return result


def _layer_files(image: str, buildpack_id: str, layer: str) -> dict[str, bytes]:
    """The files of one buildpack layer of an app image, read from its blob."""
    info = read_app_image(image)
    buildpacks = info.label_json("io.buildpacks.lifecycle.metadata")["buildpacks"]
    (entry,) = [bp for bp in buildpacks if bp["key"] == buildpack_id]
    wanted = entry["layers"][layer]["sha"]
    blob = dict(zip(info.config.diff_ids, info.manifest.as_oci().layers, strict=True))[wanted]
    source = open_source(image)
    try:
        with source.open_blob(blob.digest) as stream, tarfile.open(fileobj=stream) as tar:
            return {
                member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers()
                if member.isfile()
            }
    finally:
        source.close()


@pytest.fixture
def registry_auth(registry: RegistryServer, monkeypatch: pytest.MonkeyPatch) -> RegistryServer:
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    return registry


def _composite_package_toml(root: Path) -> Path:
    """pack's package.toml: the composite fixture with its two members."""
    root.mkdir(parents=True)
    config = root / "package.toml"
    config.write_text(
        f'[buildpack]\nuri = "{buildpack("composite")}"\n\n'
        f'[[dependencies]]\nuri = "{buildpack("hello")}"\n\n'
        f'[[dependencies]]\nuri = "{buildpack("optional-member")}"\n'
    )
    return config


def test_buildpackages_straight_from_the_registry(
    e2e_home: DefaultStack, hello_app: Path, out: Path, tmp_path: Path, registry_auth
) -> None:
    host = registry_auth.host
    _package(buildpack("processes"), f"{host}/bps/processes:1", "--format", "image")
    made = _package(
        _composite_package_toml(tmp_path / "pkg"), f"{host}/bps/composite:1", "--format", "image"
    )
    digest = made.output.split("digest: ")[1].split()[0]

    built = _build(
        hello_app, f"oci:{out}/app:1", out / "cache",
        "--buildpack", f"{host}/bps/composite:1",
        "--buildpack", f"docker://{host}/bps/processes:1",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    # The composite's members came from the buildpackage; its optional one fails detect.
    assert _detected(built.output) == ["e2e/hello 1.0.0", "e2e/processes 1.0.0"]
    image = read_app_image(f"oci:{out}/app:1")
    assert image.label_json("io.buildpacks.build.metadata")["buildpacks"] == [
        {"id": "e2e/hello", "version": "1.0.0"},
        {"id": "e2e/processes", "version": "1.0.0"},
    ]
    assert image.config.entrypoint == ("/cnb/process/web",)
    hello = _layer_files(f"oci:{out}/app:1", "e2e/hello", "hello")
    assert b"hello from the app image" in hello["/layers/e2e_hello/hello/bin/hello"]

    # cnbsdk detect reads it by digest too, and tries the composite's members.
    report = cnbsdk("detect", str(hello_app), "--buildpack", f"{host}/bps/composite@{digest}")
    assert report.exit_code == 0, report.output
    assert "e2e/optional-member" in report.output and "e2e/hello" in report.output

    # A project.toml group entry may name the buildpackage by uri.
    (hello_app / "project.toml").write_text(
        '[_]\nschema-version = "0.2"\n\n'
        f'[[io.buildpacks.group]]\nid = "e2e/processes"\nuri = "docker://{host}/bps/processes:1"\n'
    )
    by_project = _build(hello_app, f"oci:{out}/app:2", out / "cache2")
    assert by_project.exit_code == 0, by_project.output
    assert _detected(by_project.output) == ["e2e/processes 1.0.0"]


def test_buildpackage_from_a_cnb_file_next_to_a_directory(
    e2e_home: DefaultStack, hello_app: Path, out: Path, tmp_path: Path
) -> None:
    cnb = tmp_path / "hello.cnb"
    _package(buildpack("hello"), str(cnb), "--format", "cnb")
    built = _build(
        hello_app, f"oci:{out}/app:1", out / "cache",
        "--buildpack", str(cnb), "--buildpack", buildpack("processes"),
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert _detected(built.output) == ["e2e/hello 1.0.0", "e2e/processes 1.0.0"]
    hello = _layer_files(f"oci:{out}/app:1", "e2e/hello", "hello")
    assert b"cat hello.txt" in hello["/layers/e2e_hello/hello/bin/hello"]

    # The same id@version from a directory and a buildpackage: one copy when the files are
    # the same, refused in one line when they differ.
    same = cnbsdk(
        "detect", str(hello_app), "--buildpack", buildpack("hello"), "--buildpack", str(cnb)
    )
    assert same.exit_code == 0, same.output
    changed_dir = tmp_path / "changed"
    shutil.copytree(buildpack("hello"), changed_dir)
    (changed_dir / "bin" / "build").write_text("#!/bin/sh\necho changed\n")
    changed = tmp_path / "changed.cnb"
    _package(changed_dir, str(changed), "--format", "cnb")
    twice = _build(
        hello_app, f"oci:{out}/app2:1", out / "cache2",
        "--buildpack", buildpack("hello"), "--buildpack", str(changed),
    )  # fmt: skip
    assert twice.exit_code == 1
    last = twice.output.splitlines()[-1]
    assert last.startswith("error: ") and "e2e/hello@1.0.0 is given twice with different" in last
    assert not (out / "app2").exists() and not (out / "cache2").exists()

    # project.toml names it by a uri relative to the project; an http uri is refused.
    project = hello_app / "project.toml"
    schema = '[_]\nschema-version = "0.2"\n\n'
    project.write_text(schema + '[[io.buildpacks.group]]\nuri = "../hello.cnb"\n')
    by_uri = cnbsdk("detect", str(hello_app))
    assert by_uri.exit_code == 0, by_uri.output
    assert "e2e/hello" in by_uri.output
    project.write_text(schema + '[[io.buildpacks.group]]\nuri = "https://example.invalid/h.cnb"\n')
    refused = cnbsdk("detect", str(hello_app))
    assert refused.exit_code == 1
    assert refused.output.count("\n") == 1 and "io.buildpacks.group[0]" in refused.output


def test_bad_buildpackages_fail_in_one_line_and_write_nothing(
    e2e_home: DefaultStack, hello_app: Path, out: Path, tmp_path: Path, registry_auth
) -> None:
    evil = tmp_path / "evil.cnb"
    evil_cnb(evil, "../../escaped.txt")
    not_a_package = tmp_path / "layout"
    assert cnbsdk("copy", "cnbsdk/run:bookworm", f"oci:{not_a_package}:run").exit_code == 0
    cases = {
        f"{registry_auth.host}/bps/missing:1": "bps/missing",
        str(tmp_path / "absent.cnb"): "no such .cnb file",
        str(evil): "'..'",
        f"oci:{not_a_package}:run": "not a buildpackage",
    }
    for index, (source, expected) in enumerate(cases.items()):
        image = out / f"app-{index}"
        cache = out / f"cache-{index}"
        result = _build(hello_app, f"oci:{image}:1", cache, "--buildpack", source)
        assert result.exit_code == 1, (source, result.output)
        last = result.output.splitlines()[-1]
        assert last.startswith("error: ") and expected in last, (source, result.output)
        assert "Traceback" not in result.output
        assert not image.exists() and not cache.exists()
    assert not (tmp_path / "escaped.txt").exists()


def test_offline_buildpackage_builds_with_network_none(
    e2e_home: DefaultStack,
    hello_app: Path,
    out: Path,
    tmp_path: Path,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CNBSDK_DEPENDENCY_CACHE", "none")  # the download itself is tested
    data = tool_archive()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    uri = file_server.put("dl/tool-1.4.2.tgz", data)
    source = plugin(tmp_path / "src", uri, checksum)
    offline, online = tmp_path / "offline.cnb", tmp_path / "online.cnb"
    _package(source, str(offline), "--format", "cnb", "--offline")
    _package(source, str(online), "--format", "cnb")
    served = len(file_server.requests)

    # The build image's python3 runs the vendored runtime, which finds the bundled copy.
    built = _build(
        hello_app, f"oci:{out}/app:1", out / "cache",
        "--buildpack", str(offline), "--network", "none",
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    assert "Selected Tool version: 1.4.2" in built.output
    files = _layer_files(f"oci:{out}/app:1", "examples/offline-tool", "tool")
    assert files["/layers/examples_offline-tool/tool/bin/tool"] == b"#!/bin/sh\necho tool 1.4.2\n"
    assert len(file_server.requests) == served  # nothing was fetched

    # Without the bundle the download is tried, and --network none makes it fail.
    failed = _build(
        hello_app, f"oci:{out}/online:1", out / "cache2",
        "--buildpack", str(online), "--network", "none",
    )  # fmt: skip
    assert failed.exit_code != 0
    lines = failed.output.splitlines()
    # the buildpack's own one-line error names the download; the build's names the buildpack
    assert any(line.startswith(f"error: {uri}: download failed") for line in lines), lines
    assert lines[-1] == "error: buildpack examples/offline-tool@0.1.0 failed (exit 1)"
    assert not (out / "online").exists()
    assert len(file_server.requests) == served


def test_a_new_app_gets_a_dependency_from_the_shared_download_cache(
    e2e_home: DefaultStack,
    hello_app: Path,
    out: Path,
    tmp_path: Path,
    file_server: FileServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two apps with caches of their own: the runtime is downloaded once on this host."""
    data = tool_archive()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    uri = file_server.put("dl/tool-1.4.2.tgz", data)
    source = plugin(tmp_path / "src", uri, checksum)
    monkeypatch.setenv("CNBSDK_DEPENDENCY_CACHE", str(tmp_path / "shared"))
    first = _build(hello_app, f"oci:{out}/one:1", out / "cache-one", "--buildpack", str(source))
    assert first.exit_code == 0, first.output
    served = len(file_server.requests)
    assert served == 1
    second = _build(hello_app, f"oci:{out}/two:1", out / "cache-two", "--buildpack", str(source))
    assert second.exit_code == 0, second.output
    assert "Using tool-1.4.2.tgz from the platform's download cache" in second.output
    assert len(file_server.requests) == served
    files = _layer_files(f"oci:{out}/two:1", "examples/offline-tool", "tool")
    assert files["/layers/examples_offline-tool/tool/bin/tool"] == b"#!/bin/sh\necho tool 1.4.2\n"
    monkeypatch.setenv("CNBSDK_DEPENDENCY_CACHE", "none")
    third = _build(hello_app, f"oci:{out}/three:1", out / "cache-3", "--buildpack", str(source))
    assert third.exit_code == 0, third.output
    assert len(file_server.requests) == served + 1, "sharing off: downloaded again"
