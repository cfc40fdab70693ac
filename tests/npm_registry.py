"""A real npm registry protocol server on loopback, whose packages a test makes: packuments
at ``/<name>`` (``/@scope%2fname`` for scoped ones) and tarballs at
``/<name>/-/<base>-<version>.tgz``, with ``dist.integrity`` (sha512) and ``dist.shasum``
(sha1) as npm checks them. ``npm install``, ``npm ci`` and ``cnbsdk deps update`` use it
exactly as they use the public registry.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def package_tarball(package_json: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """An npm package tarball: ``package/package.json`` and the files (mtime 0)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in {"package.json": json.dumps(package_json).encode(), **files}.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            info.mode = 0o755 if name.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class NpmRegistry:
    def __init__(self) -> None:
        self.packages: dict[str, dict[str, tuple[dict[str, Any], bytes]]] = {}
        self.requests: list[str] = []
        self.authorizations: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                outer.authorizations.append(self.headers.get("Authorization", ""))
                status, body, kind = outer.answer(urllib.parse.unquote(self.path))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def publish(
        self,
        name: str,
        version: str,
        *,
        dependencies: Mapping[str, str] | None = None,
        files: Mapping[str, bytes] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> bytes:
        manifest: dict[str, Any] = {"name": name, "version": version, **(extra or {})}
        if dependencies:
            manifest["dependencies"] = dict(dependencies)
        data = package_tarball(manifest, files or {"index.js": b"module.exports = 1;\n"})
        self.packages.setdefault(name, {})[version] = (manifest, data)
        return data

    def tarball_path(self, name: str, version: str) -> str:
        base = name.split("/")[-1]
        return f"{name}/-/{base}-{version}.tgz"

    def answer(self, path: str) -> tuple[int, bytes, str]:
        path = path.lstrip("/")
        if "/-/" in path:
            name, _, file = path.partition("/-/")
            for version, (_manifest, data) in self.packages.get(name, {}).items():
                if self.tarball_path(name, version).endswith(file):
                    return 200, data, "application/octet-stream"
            return 404, b"{}", "application/json"
        versions = self.packages.get(path)
        if not versions:
            return 404, b'{"error": "not found"}', "application/json"
        document = {
            "name": path,
            "dist-tags": {"latest": list(versions)[-1]},
            "versions": {
                version: {
                    **manifest,
                    "dist": {
                        "tarball": self.url + self.tarball_path(path, version),
                        "shasum": hashlib.sha1(data).hexdigest(),
                        "integrity": "sha512-"
                        + base64.b64encode(hashlib.sha512(data).digest()).decode(),
                    },
                }
                for version, (manifest, data) in versions.items()
            },
        }
        return 200, json.dumps(document).encode(), "application/json"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def npm_registry() -> Iterator[NpmRegistry]:
    registry = NpmRegistry()
    yield registry
    registry.close()
