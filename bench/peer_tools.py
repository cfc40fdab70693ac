"""What the language benchmarks (node.py, python.py, java.py) share: timing a command,
serving a directory on loopback, and an image's uncompressed size in an OCI layout."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import subprocess
import sys
import threading
import time
from pathlib import Path


def run(command: list[str], **kwargs: object) -> float:
    """Seconds ``command`` took; the benchmark stops with its output when it fails."""
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.monotonic() - started


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(directory: Path) -> str:
    """``directory`` over HTTP on loopback, for the rest of the process; its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def uncompressed_size(layout: Path, tag: str) -> int:
    """The bytes of the image ``tag``'s layers in the OCI layout, uncompressed."""
    index = json.loads((layout / "index.json").read_text())
    manifest_digest = next(
        m["digest"] for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    )  # fmt: skip
    manifest = json.loads((layout / "blobs/sha256" / manifest_digest[7:]).read_bytes())
    total = 0
    for layer in manifest["layers"]:
        data = (layout / "blobs/sha256" / layer["digest"][7:]).read_bytes()
        total += len(gzip.decompress(data)) if data[:2] == b"\x1f\x8b" else len(data)
    return total
