"""Misbehaving registries on loopback (issue #11 classes 5, 8, 9): one that never answers
fails within the configured time-outs and deadline, naming it; one that echoes credentials
never gets them printed; credentials never go in clear text to a host not allowed to see them.

Each server here is a few lines of ``http.server`` on 127.0.0.1 (no real registry needed).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cnbsdk.errors import RegistryError
from cnbsdk.oci.registry.auth import Authenticator, Challenge, Credentials
from cnbsdk.oci.registry.client import RegistryClient, RetryPolicy, Timeouts
from tests.hardening.conftest import assert_one_line_error, run_cli

CNBSDK = str(Path(sys.executable).with_name("cnbsdk"))
PASSWORD = "s3cret-Pa55word"
USER = "builder"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
TOKEN = "tok3n.Zm9vYmFy.SIGNATURE"


@contextmanager
def silent_registry() -> Iterator[tuple[str, list[socket.socket]]]:
    """A socket that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


Handler = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def http_registry(handle: Handler) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A loopback HTTP server answering every request with ``handle``; yields its address
    and the headers of every request it got."""
    seen: list[dict[str, str]] = []

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({"path": self.path, **dict(self.headers)})
            handle(self)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def reply(handler: BaseHTTPRequestHandler, status: int, body: object, **headers: str) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for name, value in headers.items():
        handler.send_header(name.replace("_", "-"), value)
    handler.end_headers()
    handler.wfile.write(data)


# -- class 5: a registry that never answers --------------------------------------------------


def test_a_silent_registry_fails_after_one_read_time_out_naming_it() -> None:
    with silent_registry() as (address, accepted):
        result = run_cli(
            "inspect",
            f"{address}/app/image",
            env={"CNBSDK_REGISTRY_READ_TIMEOUT": "0.5", "CNBSDK_REGISTRY_RETRIES": "5"},
        )
        line = assert_one_line_error(result, contains=address)
        assert "stopped answering" in line and "0.5s to reply" in line
        assert len(accepted) == 1  # a time-out is not tried again


def test_the_deadline_cuts_a_long_read_time_out() -> None:
    """Read time-out 600 s but a 1 s deadline: the subprocess would hang for ten minutes if
    the deadline were not applied (its own 60 s limit fails the test)."""
    with silent_registry() as (address, _accepted):
        environ = {
            **os.environ,
            "CNBSDK_HOME": os.environ["CNBSDK_HOME"],
            "CNBSDK_REGISTRY_READ_TIMEOUT": "600",
            "CNBSDK_REGISTRY_DEADLINE": "1",
        }
        done = subprocess.run(
            [CNBSDK, "inspect", f"{address}/app/image"],
            capture_output=True,
            text=True,
            env=environ,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"registry {address}" in done.stderr and "stopped answering" in done.stderr


def test_retries_stop_at_the_deadline() -> None:
    calls = []

    def failing() -> None:
        from cnbsdk.oci.registry.client import TransientError

        calls.append(1)
        raise TransientError("HTTP 503")

    client = RegistryClient(
        "127.0.0.1:9",
        credentials=None,
        retry=RetryPolicy(50, 0.2, 0.2),
        timeouts=Timeouts(connect=1, read=1, deadline=0.5),
    )
    with pytest.raises(RegistryError, match="deadline"):
        client.retrying("GET manifest", failing)
    assert 1 <= len(calls) < 50


# -- class 8: credentials never shown --------------------------------------------------------


def echoing(handler: BaseHTTPRequestHandler) -> None:
    """401 until credentials come, then an error body that echoes every header sent."""
    authorization = handler.headers.get("Authorization")
    if not authorization:
        reply(handler, 401, {}, WWW_Authenticate='Basic realm="echo"')
        return
    echoed = json.dumps(dict(handler.headers))
    reply(
        handler,
        400,
        {"errors": [{"code": "DENIED", "message": f"you sent {echoed} i.e. {authorization}"}]},
    )


def echoing_5xx(handler: BaseHTTPRequestHandler) -> None:
    authorization = handler.headers.get("Authorization")
    if not authorization:
        reply(handler, 401, {}, WWW_Authenticate='Basic realm="echo"')
        return
    reply(
        handler,
        503,
        {
            "errors": [
                {"code": "UNAVAILABLE", "message": f"auth={authorization} password={PASSWORD}"}
            ]
        },
    )


def _docker_config(directory: Path, registry: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": {registry: {"auth": BASIC}}}))


@pytest.mark.parametrize("handler", [echoing, echoing_5xx], ids=["400", "503"])
@pytest.mark.parametrize("source", ["docker-config", "CNB_REGISTRY_AUTH", "username-password"])
@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_credentials_echoed_by_a_registry_are_never_printed(
    tmp_path: Path, handler: Handler, source: str, verbose: bool
) -> None:
    with http_registry(handler) as (address, seen):
        environ = {
            **os.environ,
            "CNBSDK_REGISTRY_RETRIES": "2",
            "DOCKER_CONFIG": str(tmp_path / "docker"),
        }
        if source == "docker-config":
            _docker_config(tmp_path / "docker", address)
        elif source == "CNB_REGISTRY_AUTH":
            environ["CNB_REGISTRY_AUTH"] = json.dumps({address: f"Basic {BASIC}"})
        else:
            (tmp_path / "docker").mkdir()
            (tmp_path / "docker/config.json").write_text(
                json.dumps({"auths": {address: {"username": USER, "password": PASSWORD}}})
            )
        done = subprocess.run(
            [CNBSDK, *(["-v"] if verbose else []), "inspect", f"{address}/app/image"],
            capture_output=True,
            text=True,
            env=environ,
            timeout=120,
            check=False,
        )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert any(h.get("Authorization") == f"Basic {BASIC}" for h in seen)  # it was sent
    assert BASIC not in output and PASSWORD not in output, output
    assert "<redacted>" in output
    if not verbose:
        assert "Traceback" not in output


def test_redaction_covers_every_shape_of_secret() -> None:
    from cnbsdk.errors import redact, register_secret

    register_secret("hunter2-registered")
    for text in [
        f"Authorization: Basic {BASIC}",
        f"authorization={BASIC}",
        f'{{"Authorization": "Bearer {TOKEN}"}}',
        f"Proxy-Authorization: Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f'"password": "{PASSWORD}"',
        f'{{"token": "{TOKEN}", "access_token": "{TOKEN}"}}',
        f"https://{USER}:{PASSWORD}@example.test/v2/",
        f"?token={TOKEN}&scope=x",
        "the password is hunter2-registered",
    ]:
        cleaned = redact(text)
        assert BASIC not in cleaned and TOKEN not in cleaned and PASSWORD not in cleaned
        assert "hunter2-registered" not in cleaned and "<redacted>" in cleaned
    assert redact("Bearer challenge without a usable realm") == (
        "Bearer challenge without a usable realm"
    )


def test_a_token_from_a_realm_is_redacted_when_echoed(tmp_path: Path) -> None:
    def tokens(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 200, {"token": TOKEN, "expires_in": 300})

    with http_registry(tokens) as (realm_address, _):

        def registry(handler: BaseHTTPRequestHandler) -> None:
            authorization = handler.headers.get("Authorization", "")
            if not authorization.startswith("Bearer"):
                reply(
                    handler,
                    401,
                    {},
                    WWW_Authenticate=f'Bearer realm="http://{realm_address}/token",service="test"',
                )
                return
            reply(handler, 400, {"errors": [{"code": "X", "message": f"got {TOKEN}"}]})

        with http_registry(registry) as (address, _):
            _docker_config(tmp_path / "docker", address)
            result = run_cli(
                "inspect", f"{address}/app/image", env={"DOCKER_CONFIG": str(tmp_path / "docker")}
            )
    line = assert_one_line_error(result, contains=address)
    assert TOKEN not in result.output and "<redacted>" in line


# -- class 9: no credentials in clear text to a host not allowed -----------------------------


def test_basic_credentials_are_not_sent_to_a_plain_http_realm_on_another_host(
    tmp_path: Path,
) -> None:
    # 192.0.2.1 (TEST-NET-1) is never contacted: the refusal comes first.
    def registry(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 401, {}, WWW_Authenticate='Bearer realm="http://192.0.2.1:9/token"')

    with http_registry(registry) as (address, _seen):
        _docker_config(tmp_path / "docker", address)
        result = run_cli(
            "inspect",
            f"{address}/app/image",
            env={
                "DOCKER_CONFIG": str(tmp_path / "docker"),
                "CNBSDK_REGISTRY_CONNECT_TIMEOUT": "0.5",
            },
        )
    line = assert_one_line_error(result, contains="clear text")
    assert "192.0.2.1" in line and BASIC not in result.output


def test_a_plain_http_realm_on_loopback_gets_the_credentials(tmp_path: Path) -> None:
    def tokens(handler: BaseHTTPRequestHandler) -> None:
        reply(handler, 200, {"token": TOKEN})

    with http_registry(tokens) as (realm_address, realm_seen):

        def registry(handler: BaseHTTPRequestHandler) -> None:
            reply(handler, 401, {}, WWW_Authenticate=f'Bearer realm="http://{realm_address}/t"')

        with http_registry(registry) as (address, _):
            _docker_config(tmp_path / "docker", address)
            result = run_cli(
                "inspect", f"{address}/app/image", env={"DOCKER_CONFIG": str(tmp_path / "docker")}
            )
    assert result.exit_code == 1
    assert [h.get("Authorization") for h in realm_seen][:1] == [f"Basic {BASIC}"]


@pytest.mark.parametrize(
    ("realm", "insecure", "allowed"),
    [
        ("http://192.0.2.1/token", "", False),
        ("http://192.0.2.1/token", "192.0.2.1", True),
        ("http://192.0.2.1:5000/token", "192.0.2.1:5000", True),
        ("http://192.0.2.1/token", "192.0.2.0/24", True),
        ("http://192.0.2.1/token", "192.0.2.2", False),
        ("http://localhost:9/token", "", True),
        ("http://[::1]:9/token", "", True),
        ("https://192.0.2.1/token", "", True),
    ],
)
def test_which_realms_may_get_credentials_in_clear_text(
    monkeypatch: pytest.MonkeyPatch, realm: str, insecure: str, allowed: bool
) -> None:
    monkeypatch.setenv("CNBSDK_INSECURE_REGISTRIES", insecure)
    auth = Authenticator("127.0.0.1:5000", Credentials(USER, PASSWORD), session=None)  # type: ignore[arg-type]
    if allowed:
        auth._check_clear_text(realm)
    else:
        with pytest.raises(RegistryError, match="clear text"):
            auth._check_clear_text(realm)
    assert Challenge.parse(f'Bearer realm="{realm}"').params["realm"] == realm
