"""The author toolkit's dependency side: version planning with its log line and errors,
dependency layers keyed on the checksum with their SBOM, downloads retried with back-off
from a real HTTP server on loopback, mapping and mirror bindings."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cnbsdk.buildpack import Binding, Logger
from cnbsdk.buildpack.dependency_layer import dependency_layer
from cnbsdk.buildpack.layers import Layers
from cnbsdk.deps import Dependencies, DependencyError, download
from cnbsdk.deps.mirrors import mapped_uri, mirror_uri
from cnbsdk.deps.planner import VersionRequest, plan_version
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def catalog(entries: list[tuple[str, str, str]], default: str = "") -> BuildpackDescriptor:
    deps = "".join(
        f"""
[[metadata.dependencies]]
id = "node"
name = "Node.js"
version = "{version}"
uri = "{uri}"
checksum = "{checksum}"
purl = "pkg:generic/node@{version}"
cpes = ["cpe:2.3:a:nodejs:node.js:{version}:*:*:*:*:*:*:*"]
licenses = ["MIT"]
"""
        for version, uri, checksum in entries
    )
    defaults = f'[metadata.default-versions]\nnode = "{default}"\n' if default else ""
    return BuildpackDescriptor.from_toml(
        f"""api = "0.10"
[buildpack]
id = "examples/node"
version = "1.0.0"
sbom-formats = ["application/vnd.cyclonedx+json"]
{defaults}{deps}"""
    )


def lines_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


VERSIONS = [
    ("20.18.1", "file:///x", "sha256:" + "1" * 64),
    ("22.11.0", "file:///y", "sha256:" + "2" * 64),
]


def test_the_first_request_decides_and_the_log_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deps = Dependencies(catalog(VERSIONS), tmp_path)
    planned = plan_version(
        deps,
        "node",
        [
            None,  # BP_NODE_VERSION unset
            VersionRequest('package.json "engines"', ">=18 <21"),
            VersionRequest(".nvmrc", "22"),
        ],
        name="Node.js",
        logger=Logger(),
    )
    assert (planned.dependency.version, planned.source) == ("20.18.1", 'package.json "engines"')
    out = lines_of(capsys)
    assert out == [
        "  Candidate version sources (in priority order):",
        '    package.json "engines" -> ">=18 <21"',
        '    .nvmrc                 -> "22"',
        '  Selected Node.js version (using package.json "engines"): 20.18.1',
    ]


def test_no_request_takes_the_default_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deps = Dependencies(catalog(VERSIONS, default="20.*"), tmp_path)
    planned = plan_version(deps, "node", [VersionRequest(".nvmrc", "  ")], logger=Logger())
    assert (planned.dependency.version, planned.source) == ("20.18.1", "default version")
    assert lines_of(capsys) == ["  Selected node version (using default version): 20.18.1"]


def test_a_request_nothing_satisfies_names_its_source_and_the_versions(tmp_path: Path) -> None:
    deps = Dependencies(catalog(VERSIONS), tmp_path, descriptor_file="buildpack.toml")
    with pytest.raises(DependencyError) as caught:
        plan_version(deps, "node", [VersionRequest("BP_NODE_VERSION", "99")], name="Node.js")
    message = str(caught.value)
    assert message == (
        "BP_NODE_VERSION asks for Node.js '99', which"
        " no version in the catalog satisfies (available: 20.18.1, 22.11.0)"
    )


@pytest.fixture
def layers_context(tmp_path: Path) -> object:
    class Context:
        def __init__(self, descriptor: BuildpackDescriptor) -> None:
            self.descriptor = descriptor
            self.buildpack_dir = tmp_path / "bp"
            self.descriptor_file = tmp_path / "bp" / "buildpack.toml"
            self.environ: dict[str, str] = {}
            self.platform_env: dict[str, str] = {}
            self.logger = Logger()
            self.target = None
            self.bindings: tuple[Binding, ...] = ()
            self.layers = Layers(
                tmp_path / "layers",
                logger=self.logger,
                sbom_formats=descriptor.buildpack.sbom_formats,
            )

    (tmp_path / "bp").mkdir()
    (tmp_path / "layers").mkdir()
    return Context


def test_a_dependency_layer_is_reused_while_the_checksum_holds(
    tmp_path: Path, layers_context: type, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact = tarball({"node/bin/node": b"#!/bin/sh\necho node\n"})
    path = tmp_path / "node.tgz"
    path.write_bytes(artifact)
    entries = [("22.11.0", path.as_uri(), sha(artifact))]
    context = layers_context(catalog(entries))
    dependency = Dependencies(context.descriptor, context.buildpack_dir).resolve("node")
    layer = dependency_layer(context, dependency, "node", build=True, launch=True)
    assert not layer.reused
    assert (layer.path / "node/bin/node").read_bytes().startswith(b"#!/bin/sh")
    sbom = json.loads((tmp_path / "layers/node.sbom.cdx.json").read_text())
    (component,) = sbom["components"]
    assert component["name"] == "Node.js" and component["version"] == "22.11.0"
    assert component["purl"] == "pkg:generic/node@22.11.0"
    assert component["cpe"].startswith("cpe:2.3:a:nodejs:node.js:22.11.0")
    assert component["licenses"] == [{"license": {"id": "MIT"}}]
    assert component["hashes"] == [{"alg": "SHA-256", "content": sha(artifact)[7:]}]

    # the next build: the same catalog entry keeps the layer; another checksum rebuilds it
    capsys.readouterr()
    again = layers_context(catalog(entries))
    assert dependency_layer(again, dependency, "node", launch=True).reused
    assert (
        "Reusing layer 'node' (id node, version 22.11.0, checksum sha256:"
        in capsys.readouterr().out
    )
    newer = tarball({"node/bin/node": b"#!/bin/sh\necho newer\n"})
    path.write_bytes(newer)
    changed = layers_context(catalog([("22.11.0", path.as_uri(), sha(newer))]))
    dep2 = Dependencies(changed.descriptor, changed.buildpack_dir).resolve("node")
    rebuilt = dependency_layer(changed, dep2, "node", launch=True)
    assert not rebuilt.reused and b"newer" in (rebuilt.path / "node/bin/node").read_bytes()
    assert "Rebuilding layer 'node': checksum changed from" in capsys.readouterr().out


class Flaky:
    """A loopback HTTP server whose first ``failures`` answers are the given status."""

    def __init__(self, body: bytes, failures: int, status: int) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests += 1
                if outer.requests <= failures:
                    self.send_error(status)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/file.tgz"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky() -> Iterator[type[Flaky]]:
    servers: list[Flaky] = []

    def make(body: bytes, failures: int, status: int) -> Flaky:
        server = Flaky(body, failures, status)
        servers.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in servers:
        server.close()


def test_downloads_retry_what_another_try_can_cure(tmp_path: Path, flaky: type[Flaky]) -> None:
    body = b"x" * 1000
    server = flaky(body, 2, 503)
    seen: list[tuple[int, int]] = []
    download(
        server.url,
        sha(body),
        tmp_path / "a",
        backoff=0.01,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert server.requests == 3 and (tmp_path / "a").read_bytes() == body
    assert seen[-1] == (1000, 1000)

    final = flaky(body, 5, 404)
    with pytest.raises(DependencyError, match="HTTP 404"):
        download(final.url, sha(body), tmp_path / "b", backoff=0.01)
    assert final.requests == 1, "a 404 is not retried"

    busy = flaky(body, 9, 503)
    with pytest.raises(DependencyError) as caught:
        download(busy.url, sha(body), tmp_path / "c", attempts=3, backoff=0.01)
    assert busy.requests == 3
    assert (
        str(caught.value) == f"{busy.url}: download failed (3 times): HTTP 503 Service Unavailable"
    )
    assert not list(tmp_path.glob("c*")) and not list(tmp_path.glob(".c.*"))


def _binding(tmp_path: Path, name: str, kind: str, entries: dict[str, str]) -> Binding:
    root = tmp_path / "bindings" / name
    root.mkdir(parents=True)
    paths = {}
    for key, value in entries.items():
        (root / key).write_text(value + "\n")
        paths[key] = root / key
    return Binding(name, root, kind, entries=paths)


def test_mapping_and_mirror_bindings(tmp_path: Path) -> None:
    digest = "ab" * 32
    mapping = _binding(
        tmp_path, "map", "dependency-mapping", {f"sha256_{digest}": "file:///m/x.tgz"}
    )
    assert mapped_uri(f"sha256:{digest}", [mapping]) == "file:///m/x.tgz"
    assert mapped_uri("sha256:" + "cd" * 32, [mapping]) is None
    mirror = _binding(
        tmp_path, "mirror", "dependency-mirror",
        {"default": "https://mirror.example.invalid/all", "dl.example.org": "file:///srv/{originalHost}"},
    )  # fmt: skip
    uri = "https://dl.example.org/node/v22.tgz"
    assert mirror_uri(uri, {}, [mirror]) == "file:///srv/dl.example.org/node/v22.tgz"
    assert mirror_uri("https://other.example.org/a.tgz", {}, [mirror]) == (
        "https://mirror.example.invalid/all/a.tgz"
    )
    env = {"BP_DEPENDENCY_MIRROR": "https://env.example.invalid"}
    assert mirror_uri(uri, env, [mirror]) == "https://env.example.invalid/node/v22.tgz"


def test_delivery_uses_the_mapping_binding(tmp_path: Path) -> None:
    artifact = tarball({"bin/tool": b"tool"})
    local = tmp_path / "mapped.tgz"
    local.write_bytes(artifact)
    mapping = _binding(tmp_path, "map", "dependency-mapping", {sha(artifact): local.as_uri()})
    descriptor = catalog([("22.11.0", "https://unreachable.invalid/node.tgz", sha(artifact))])
    deps = Dependencies(descriptor, tmp_path, bindings=[mapping])
    layer = tmp_path / "layer"
    deps.deliver(deps.resolve("node"), layer)
    assert (layer / "bin/tool").read_bytes() == b"tool"


def test_bad_download_settings_are_one_line(tmp_path: Path) -> None:
    descriptor = catalog(
        [("22.11.0", "https://unreachable.invalid/node.tgz", "sha256:" + "0" * 64)]
    )
    deps = Dependencies(descriptor, tmp_path, environ={"BP_DEPENDENCY_ATTEMPTS": "many"})
    with pytest.raises(DependencyError, match="BP_DEPENDENCY_ATTEMPTS='many': expected a number"):
        deps.fetch(deps.resolve("node"), tmp_path)
