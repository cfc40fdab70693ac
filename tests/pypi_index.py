"""A real Python package index on loopback whose files a test puts there: the "simple" API
at ``/simple/<project>/`` (PEP 691 JSON when asked for, PEP 503 HTML otherwise, with sha256
fragments) and the files at ``/files/<project>/<file>``. pip (``--index-url``), uv and
``cnbsdk deps update`` use it as they use the public index. Its ``root`` is also a plain
directory per project, which a ``file://`` index URL reads directly.
"""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cnbsdk.deps.pypi_index import normalize

JSON = "application/vnd.pypi.simple.v1+json"


class PackageIndex:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[str] = []
        self.yanked: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, body, kind = outer.answer(
                    urllib.parse.unquote(self.path), self.headers.get("Accept", "")
                )
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def file_url(self) -> str:
        """The same index as a ``file://`` directory."""
        return self.root.as_uri()

    def add(self, project: str, filename: str, data: bytes) -> Path:
        path = self.root / normalize(project) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def add_file(self, project: str, source: Path) -> Path:
        target = self.root / normalize(project) / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return target

    def answer(self, path: str, accept: str) -> tuple[int, bytes, str]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            directory = self.root / normalize(parts[1])
            if not directory.is_dir():
                return 404, b"not found", "text/plain"
            files = sorted(p for p in directory.iterdir() if p.is_file())
            entries = [
                {
                    "filename": f.name,
                    "url": f"/files/{directory.name}/{f.name}",
                    "hashes": {"sha256": hashlib.sha256(f.read_bytes()).hexdigest()},
                    "yanked": f.name in self.yanked,
                }
                for f in files
            ]
            if JSON in accept:
                body = {"meta": {"api-version": "1.0"}, "name": parts[1], "files": entries}
                return 200, json.dumps(body).encode(), JSON
            links = "".join(
                f'<a href="{html.escape(e["url"])}#sha256={e["hashes"]["sha256"]}">'  # type: ignore[index]
                f"{html.escape(str(e['filename']))}</a>\n"
                for e in entries
            )
            return 200, f"<html><body>{links}</body></html>".encode(), "text/html"
        if len(parts) == 3 and parts[0] == "files":
            path_ = self.root / parts[1] / parts[2]
            if path_.is_file():
                return 200, path_.read_bytes(), "application/octet-stream"
        return 404, b"not found", "text/plain"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def package_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    index = PackageIndex(tmp_path_factory.mktemp("package-index"))
    yield index
    index.stop()
