"""Debian's real ``docker-registry`` (the CNCF distribution registry) on loopback, for tests.

``RegistryServer`` starts ``/usr/bin/docker-registry`` on a free 127.0.0.1 port with a temp
storage dir and htpasswd (bcrypt, made by ``htpasswd -Bbn``) auth; it can read the
registry's access log, be killed and be restarted on the same storage and port.
``TokenServer`` is a small token endpoint (RS256 JWTs signed with ``openssl``) so the same
registry binary can run with ``auth: token`` for the Bearer flow.

Fixtures (registered for the whole suite by ``tests/conftest.py``):
``registry`` (session-wide, htpasswd) and ``registry_factory`` (start your own variant).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import random
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qs, urlparse

import pytest

REGISTRY_BINARY = "/usr/bin/docker-registry"
_ACCESS_LINE = re.compile(r'^\S+ - \S* \[[^\]]+\] "(\w+) (\S+) HTTP/[\d.]+" (\d+) ')


@dataclass(frozen=True)
class LoggedRequest:
    """One line of the registry's access log."""

    method: str
    path: str
    status: int

    @property
    def is_blob_upload(self) -> bool:
        return "/blobs/uploads/" in self.path and self.method in ("POST", "PUT", "PATCH")

    @property
    def is_mount(self) -> bool:
        return self.method == "POST" and "mount=" in self.path


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def make_certificate(directory: Path, common_name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed RSA certificate for 127.0.0.1 (TLS) that can also sign tokens."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={common_name}",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@dataclass
class TokenAuth:
    """``auth: token`` settings for a registry: who issues tokens and what signs them."""

    realm: str
    service: str
    issuer: str
    certificate: Path


class RegistryServer:
    """One ``docker-registry`` process; ``kill()`` and ``restart()`` keep storage and port."""

    def __init__(
        self,
        root: Path,
        *,
        username: str = "cnbsdk",
        password: str | None = None,
        tls: tuple[Path, Path] | None = None,
        token: TokenAuth | None = None,
        listen: str = "127.0.0.1",
        name: str | None = None,
    ) -> None:
        self.root = root
        self.listen = listen
        self.name = name or listen
        self.username = username
        self.password = password or "pw-" + secrets.token_hex(8)
        self.port = free_port(listen)
        self.storage = root / "storage"
        self.log_path = root / "registry.log"
        self.config_path = root / "config.yml"
        self.tls = tls
        self.token = token
        self._process: subprocess.Popen[bytes] | None = None
        self._write_config()

    # -- addresses and credentials --------------------------------------------------------
    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return f"{self.name}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.listen}:{self.port}"

    def basic_auth(self) -> str:
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def auth_env(self, password: str | None = None) -> dict[str, str]:
        """``CNB_REGISTRY_AUTH`` for this registry (with another password if given)."""
        pair = f"{self.username}:{password or self.password}".encode()
        header = "Basic " + base64.b64encode(pair).decode()
        return {"CNB_REGISTRY_AUTH": json.dumps({self.host: header})}

    # -- process ----------------------------------------------------------------------------
    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        htpasswd = self.root / "htpasswd"
        made = subprocess.run(
            ["htpasswd", "-Bbn", self.username, self.password],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        htpasswd.write_text(made.stdout, encoding="utf-8")
        if self.token:
            auth = (
                "  token:\n"
                f"    realm: {self.token.realm}\n"
                f"    service: {self.token.service}\n"
                f"    issuer: {self.token.issuer}\n"
                f"    rootcertbundle: {self.token.certificate}\n"
            )
        else:
            auth = f"  htpasswd:\n    realm: cnbsdk-test\n    path: {htpasswd}\n"
        tls = (
            f"  tls:\n    certificate: {self.tls[0]}\n    key: {self.tls[1]}\n" if self.tls else ""
        )
        self.config_path.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\n"
            "storage:\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            "  maintenance:\n    uploadpurging:\n      enabled: false\n"
            f"http:\n  addr: {self.listen}:{self.port}\n  secret: {secrets.token_hex(16)}\n{tls}"
            f"auth:\n{auth}",
            encoding="utf-8",
        )

    def start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [REGISTRY_BINARY, "serve", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_tail()}")
            with socket.socket() as sock:
                if sock.connect_ex((self.listen, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not listen on {self.host}: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no graceful shutdown."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def clear_storage(self) -> None:
        """Forget every image (the registry must be stopped or restarted afterwards)."""
        shutil.rmtree(self.storage, ignore_errors=True)

    def __enter__(self) -> RegistryServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the access log ---------------------------------------------------------------------
    def log_tail(self, lines: int = 5) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return " | ".join(text.strip().splitlines()[-lines:])

    def log_mark(self) -> int:
        """A position in the log; ``requests(since=mark)`` lists what came after it."""
        return self.log_path.stat().st_size

    def requests(self, since: int = 0) -> list[LoggedRequest]:
        """Requests the registry logged after ``since``, once all earlier ones are written.

        The registry writes a line after it answers, so a marker request is sent and waited
        for: every request answered before it is in the log by then.
        """
        marker = f"/v2/cnbsdk-marker-{uuid.uuid4().hex}/tags/list"
        context = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        with contextlib.suppress(urllib.error.URLError, OSError):
            urllib.request.urlopen(self.url + marker, timeout=5, context=context)
        deadline = time.monotonic() + 5
        while marker not in self._log_since(since) and time.monotonic() < deadline:
            time.sleep(0.02)
        found = []
        for line in self._log_since(since).splitlines():
            match = _ACCESS_LINE.match(line)
            if match and "cnbsdk-marker-" not in match.group(2):
                found.append(LoggedRequest(match.group(1), match.group(2), int(match.group(3))))
        return found

    def _log_since(self, since: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", errors="replace")


class TokenServer:
    """A token endpoint on loopback: Basic credentials in, an RS256 JWT granting the asked
    scopes out (``access_token`` or ``token``, as real token servers vary)."""

    def __init__(self, root: Path, username: str, password: str, *, key: str = "access_token"):
        self.username = username
        self.password = password
        self.key = key
        self.service = "cnbsdk-test-registry"
        self.issuer = "cnbsdk-test-issuer"
        self.certificate, self.private_key = make_certificate(root)
        self.scopes_requested: list[list[str]] = []
        self.refused = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def auth(self) -> TokenAuth:
        return TokenAuth(self.realm, self.service, self.issuer, self.certificate)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def issue(self, scopes: list[str]) -> str:
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.certificate), "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        claims = {
            "iss": self.issuer, "sub": self.username, "aud": self.service,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": uuid.uuid4().hex,
            "access": access,
        }  # fmt: skip
        signing_input = f"{_b64url(json.dumps(header))}.{_b64url(json.dumps(claims))}"
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.private_key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                expected = (
                    "Basic "
                    + base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
                )
                if self.headers.get("Authorization") != expected:
                    server.refused += 1
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scopes = parse_qs(urlparse(self.path).query).get("scope", [])
                server.scopes_requested.append(scopes)
                body = json.dumps({server.key: server.issue(scopes), "expires_in": 300})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _b64url(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class RandomLayer:
    """A gzip'd tar layer written for a test image."""

    path: Path
    digest: str
    size: int
    diff_id: str


class _HashingFile:
    def __init__(self, target: BinaryIO) -> None:
        self.target = target
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.target.write(data)


def write_random_layer(directory: Path, size: int, seed: int) -> RandomLayer:
    """A real tar.gz holding one file of ``size`` random (so incompressible) bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"layer-{seed}-{size}.tar.gz"
    rng = random.Random(seed)
    with (
        path.open("wb") as out,
        gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1, mtime=0) as zipped,
    ):
        tee = _HashingFile(zipped)  # type: ignore[arg-type]
        with tarfile.open(fileobj=tee, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            info = tarfile.TarInfo(f"data-{seed}.bin")
            info.size = size
            info.mtime = 315532801
            tar.addfile(info, _RandomReader(rng, size))
    digest = hashlib.sha256()
    with path.open("rb") as blob:
        while chunk := blob.read(1 << 20):
            digest.update(chunk)
    return RandomLayer(
        path, "sha256:" + digest.hexdigest(), path.stat().st_size, "sha256:" + tee.hash.hexdigest()
    )


class _RandomReader:
    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng = rng
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n)


def make_oci_image(
    layout: Path,
    tag: str,
    layers: list[RandomLayer],
    *,
    architecture: str = "amd64",
    label: str = "",
) -> tuple[str, bytes]:
    """Write an image of ``layers`` into an OCI layout with cnbsdk; (manifest digest, raw)."""
    from cnbsdk.oci.open import open_destination

    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "created": "1980-01-01T00:00:01Z",
            "config": {"Labels": {"test": label or tag}},
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        },
        sort_keys=True,
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer.digest,
                    "size": layer.size,
                }
                for layer in layers
            ],
        }
    ).encode()
    dest = open_destination(f"oci:{layout}:{tag}")
    try:
        for layer in layers:
            with layer.path.open("rb") as stream:
                dest.put_blob(layer.digest, layer.size, stream)
        dest.put_blob(config_digest, len(config), io.BytesIO(config))
        digest = dest.put_manifest(manifest, OCI_MANIFEST)
        dest.commit()
    finally:
        dest.close()
    return digest, manifest


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """docker-registry on 127.0.0.1 with htpasswd auth, shared by the whole session.

    Use a repository name of your own per test. A test that kills it restarts it.
    """
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Start a registry of your own: ``registry_factory(tls=..., token=...)``."""
    started: list[RegistryServer] = []

    def start(**options: object) -> RegistryServer:
        server = RegistryServer(tmp_path_factory.mktemp("registry"), **options)  # type: ignore[arg-type]
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
