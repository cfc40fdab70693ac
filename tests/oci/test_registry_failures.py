"""A registry that dies, restarts or is overloaded: clear errors, clean retries, no corruption.

Starts: ``docker-registry`` (killed with SIGKILL mid-upload and mid-download, then restarted
on the same storage and port). The 5xx/429 test uses a stdlib HTTP stub, because the real
registry cannot be made to answer 503 on demand.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.errors import ImageError, RegistryError
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.registry import (
    Credentials,
    RegistryClient,
    RegistryDestination,
    RegistrySource,
    RetryPolicy,
    UploadSettings,
)
from tests.registry_server import RandomLayer, RegistryServer, make_oci_image, write_random_layer

pytestmark = pytest.mark.registry

BIG = 24 << 20


@pytest.fixture(autouse=True)
def _credentials(
    registry: RegistryServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[None]:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    yield
    if not registry.running:  # a failed test must not leave the shared registry dead
        registry.start()


@pytest.fixture(scope="module")
def big_layer(tmp_path_factory: pytest.TempPathFactory) -> RandomLayer:
    return write_random_layer(tmp_path_factory.mktemp("big"), BIG, seed=42)


class KillingReader:
    """A blob file that SIGKILLs the registry once ``after`` bytes have been sent."""

    def __init__(self, stream: BinaryIO, registry: RegistryServer, after: int) -> None:
        self.stream = stream
        self.registry = registry
        self.after = after
        self.sent = 0
        self.killed = False

    def read(self, size: int = -1) -> bytes:
        if not self.killed and self.sent >= self.after:
            self.registry.kill()
            self.killed = True
        data = self.stream.read(size)
        self.sent += len(data)
        return data

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.stream.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.stream.seek(offset, whence)


def client_for(registry: RegistryServer, attempts: int, delay: float) -> RegistryClient:
    return RegistryClient(
        registry.host,
        credentials=Credentials(registry.username, registry.password),
        retry=RetryPolicy(attempts=attempts, base_delay=delay, max_delay=delay * 4),
    )


def verify_pull(registry_ref: str, pulled: Path, layers: list[RandomLayer]) -> str:
    """Pull into a layout; every blob hashes to its digest and the layers are unchanged."""
    report = copy_image(registry_ref, f"oci:{pulled}:v1")
    for blob in (pulled / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    for layer in layers:
        blob = pulled / "blobs" / "sha256" / layer.digest.removeprefix("sha256:")
        assert blob.read_bytes() == layer.path.read_bytes()
    return report.manifest_digest


def test_registry_killed_mid_push_gives_a_clear_error_and_a_rerun_succeeds(
    registry: RegistryServer, big_layer: RandomLayer, tmp_path: Path
) -> None:
    digest, _ = make_oci_image(tmp_path / "layout", "v1", [big_layer])
    target = parse_reference(f"docker://{registry.host}/tests/killed:v1")

    dest = RegistryDestination(target, client=client_for(registry, attempts=3, delay=0.05))
    with big_layer.path.open("rb") as raw, pytest.raises(RegistryError) as err:
        dest.put_blob(big_layer.digest, big_layer.size, KillingReader(raw, registry, 8 << 20))  # type: ignore[arg-type]
    dest.close()
    message = str(err.value)
    assert message.startswith(
        f"registry {registry.host}: push blob {big_layer.digest[:19]} to tests/killed "
        "failed after 3 attempts: connection refused"
    )
    assert "\n" not in message

    registry.start()  # same storage, same port
    with RegistrySource(target) as source, pytest.raises(ImageError, match="not found"):
        source.get_manifest()  # nothing half-pushed is visible

    result = CliRunner().invoke(cli, ["copy", f"oci:{tmp_path / 'layout'}:v1", str(target)])
    assert result.exit_code == 0, result.output
    assert verify_pull(str(target), tmp_path / "pulled", [big_layer]) == digest


@pytest.mark.parametrize("chunk_size", [64 << 20, 4 << 20], ids=["monolithic", "chunked"])
def test_upload_retries_across_a_registry_restart(
    registry: RegistryServer,
    big_layer: RandomLayer,
    tmp_path: Path,
    chunk_size: int,
) -> None:
    digest, raw_manifest = make_oci_image(tmp_path / "layout", "v1", [big_layer])
    target = parse_reference(f"docker://{registry.host}/tests/restarted-{chunk_size}:v1")
    restart = threading.Timer(0.4, registry.start)

    class RestartingReader(KillingReader):
        def read(self, size: int = -1) -> bytes:
            if not self.killed and self.sent >= self.after:
                restart.start()
            return super().read(size)

    mark = registry.log_mark()
    client = client_for(registry, attempts=8, delay=0.1)
    with RegistryDestination(target, client=client, upload=UploadSettings(chunk_size)) as dest:
        with big_layer.path.open("rb") as raw:
            reader = RestartingReader(raw, registry, 10 << 20)
            dest.put_blob(big_layer.digest, big_layer.size, reader)  # type: ignore[arg-type]
        for blob in (tmp_path / "layout" / "blobs" / "sha256").iterdir():
            if "sha256:" + blob.name != big_layer.digest:
                with blob.open("rb") as stream:
                    dest.put_blob("sha256:" + blob.name, blob.stat().st_size, stream)
        dest.put_manifest(raw_manifest, "application/vnd.oci.image.manifest.v1+json")
    restart.join()
    assert reader.killed

    started = [r for r in registry.requests(since=mark) if r.method == "POST"]
    assert len(started) >= 2  # the interrupted upload was started again from scratch
    assert verify_pull(str(target), tmp_path / "pulled", [big_layer]) == digest


def test_pull_resumes_a_blob_after_the_registry_restarts(
    registry: RegistryServer, big_layer: RandomLayer, tmp_path: Path
) -> None:
    make_oci_image(tmp_path / "layout", "v1", [big_layer])
    target = f"docker://{registry.host}/tests/resumed:v1"
    copy_image(f"oci:{tmp_path / 'layout'}:v1", target)

    mark = registry.log_mark()
    client = client_for(registry, attempts=8, delay=0.1)
    digest = hashlib.sha256()
    with (
        RegistrySource(parse_reference(target), client=client) as source,
        source.open_blob(big_layer.digest) as stream,
    ):
        digest.update(stream.read(1 << 20))
        registry.kill()
        threading.Timer(0.3, registry.start).start()
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    assert "sha256:" + digest.hexdigest() == big_layer.digest
    ranged = [r for r in registry.requests(since=mark) if r.status == 206]
    assert len(ranged) == 1


def test_unreachable_registry_fails_after_the_retries(tmp_path: Path) -> None:
    from tests.registry_server import free_port

    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    client = RegistryClient(host, credentials=None, retry=RetryPolicy(2, 0.01))
    source = RegistrySource(parse_reference(f"{host}/tests/x:v1"), client=client)
    with source, pytest.raises(RegistryError) as err:
        source.get_manifest()
    assert str(err.value) == (
        f"registry {host}: GET manifest tests/x:v1 failed after 2 attempts: connection refused"
    )


def test_5xx_and_429_are_retried_with_backoff() -> None:
    answers = [(503, {}), (429, {"Retry-After": "0"}), (200, {})]
    seen: list[str] = []
    body = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'

    class Stub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            status, headers = answers.pop(0)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            payload = body if status == 200 else b'{"errors":[{"code":"UNAVAILABLE"}]}'
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{server.server_address[1]}"
        client = RegistryClient(host, credentials=None, retry=RetryPolicy(3, 0.01))
        with RegistrySource(parse_reference(f"{host}/tests/x:v1"), client=client) as source:
            assert source.get_manifest() == (body, "application/vnd.oci.image.manifest.v1+json")
        assert seen == ["/v2/tests/x/manifests/v1"] * 3
    finally:
        server.shutdown()
        server.server_close()
