"""Registry credentials and transport security against the real docker-registry.

Starts: ``docker-registry`` with htpasswd auth, with token auth (and a small token endpoint
signing RS256 JWTs with ``openssl``), and with TLS.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.errors import RegistryError
from cnbsdk.oci.copy import copy_image
from cnbsdk.oci.image import resolve_image
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.registry import Credentials, RegistryClient, RegistrySource, load_credentials
from cnbsdk.oci.registry.address import uses_plain_http
from tests.registry_server import (
    RegistryServer,
    TokenServer,
    make_certificate,
    make_oci_image,
    write_random_layer,
)

pytestmark = pytest.mark.registry


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No credentials or insecure hosts leak in from the machine running the tests."""
    monkeypatch.delenv("CNB_REGISTRY_AUTH", raising=False)
    # Set (not deleted) so that monkeypatch restores them after --insecure-registry wrote one.
    monkeypatch.setenv("CNBSDK_INSECURE_REGISTRIES", "")
    monkeypatch.setenv("CNB_INSECURE_REGISTRIES", "")
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.setenv("CNBSDK_REGISTRY_RETRIES", "2")
    return config_dir


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    layer = write_random_layer(tmp_path / "l", 20_000, seed=3)
    make_oci_image(tmp_path / "layout", "v1", [layer])
    return tmp_path / "layout"


def write_docker_config(config_dir: Path, registry: str, entry: dict[str, str]) -> Path:
    path = config_dir / "config.json"
    path.write_text(json.dumps({"auths": {f"https://{registry}/v1/": entry}}), encoding="utf-8")
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_wrong_password_is_one_line_naming_the_registry_and_no_secret(
    registry: RegistryServer, layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    for name, value in registry.auth_env(password=wrong).items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        cli, ["copy", f"oci:{layout}:v1", f"docker://{registry.host}/tests/denied:v1"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: registry {registry.host}: authentication failed")
    assert "CNB_REGISTRY_AUTH" in lines[0]
    assert wrong not in result.output
    assert b64(f"{registry.username}:{wrong}") not in result.output


def test_wrong_password_in_docker_config_names_the_file(
    registry: RegistryServer, layout: Path, _clean_environment: Path
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    path = write_docker_config(
        _clean_environment, registry.host, {"auth": b64(f"{registry.username}:{wrong}")}
    )
    with pytest.raises(RegistryError) as err:
        copy_image(f"oci:{layout}:v1", f"docker://{registry.host}/tests/denied:v1")
    message = str(err.value)
    assert str(path) in message and registry.host in message
    assert wrong not in message and b64(f"{registry.username}:{wrong}") not in message
    assert "\n" not in message


def test_no_credentials_says_where_to_put_them(registry: RegistryServer, layout: Path) -> None:
    with pytest.raises(RegistryError) as err:
        copy_image(f"oci:{layout}:v1", f"docker://{registry.host}/tests/anonymous:v1")
    assert str(err.value) == (
        f"registry {registry.host}: authentication required and no credentials found "
        "(add them to $DOCKER_CONFIG/config.json or CNB_REGISTRY_AUTH)"
    )


@pytest.mark.parametrize("form", ["auth", "username-password"])
def test_docker_config_credentials_push_and_pull(
    registry: RegistryServer, layout: Path, _clean_environment: Path, tmp_path: Path, form: str
) -> None:
    entry = (
        {"auth": b64(f"{registry.username}:{registry.password}")}
        if form == "auth"
        else {"username": registry.username, "password": registry.password}
    )
    write_docker_config(_clean_environment, registry.host, entry)
    target = f"docker://{registry.host}/tests/config-{form}:v1"
    pushed = copy_image(f"oci:{layout}:v1", target)
    pulled = copy_image(target, f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.manifest_digest == pushed.manifest_digest


def test_explicit_credentials_come_before_the_environment(
    registry: RegistryServer, layout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"docker://{registry.host}/tests/explicit:v1"
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    pushed = copy_image(f"oci:{layout}:v1", target)
    for name, value in registry.auth_env(password="not-the-password").items():
        monkeypatch.setenv(name, value)
    explicit = Credentials(registry.username, registry.password)
    with RegistrySource(parse_reference(target), credentials=explicit) as source:
        assert resolve_image(source).digest == pushed.manifest_digest


def test_bad_cnb_registry_auth_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNB_REGISTRY_AUTH", '{"127.0.0.1:5000": "secret-without-scheme"}')
    with pytest.raises(RegistryError) as err:
        load_credentials("127.0.0.1:5000")
    assert str(err.value).startswith("CNB_REGISTRY_AUTH: 127.0.0.1:5000: must be")
    assert "secret-without-scheme" not in str(err.value)


def test_debug_log_redacts_authorization(
    registry: RegistryServer,
    layout: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name, value in registry.auth_env().items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.DEBUG):
        copy_image(f"oci:{layout}:v1", f"docker://{registry.host}/tests/logged:v1")
    assert "'Authorization': '<redacted>'" in caplog.text
    assert registry.password not in caplog.text
    assert b64(f"{registry.username}:{registry.password}") not in caplog.text


@pytest.fixture(params=["access_token", "token"])
def token_registry(
    request: pytest.FixtureRequest,
    registry_factory: Callable[..., RegistryServer],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RegistryServer, TokenServer]:
    """docker-registry with ``auth: token``, its token endpoint answering with ``param``."""
    tokens = TokenServer(
        tmp_path_factory.mktemp("tokens"), "tokenuser", "pw-" + uuid.uuid4().hex, key=request.param
    )
    tokens.start()
    request.addfinalizer(tokens.stop)
    server = registry_factory(token=tokens.auth())
    return server, tokens


def test_bearer_token_flow_push_pull_and_cache(
    token_registry: tuple[RegistryServer, TokenServer],
    layout: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, tokens = token_registry
    header = "Basic " + b64(f"{tokens.username}:{tokens.password}")
    monkeypatch.setenv("CNB_REGISTRY_AUTH", json.dumps({server.host: header}))
    target = f"docker://{server.host}/tests/bearer:v1"

    with caplog.at_level(logging.DEBUG):
        pushed = copy_image(f"oci:{layout}:v1", target)
    # One token per scope, reused for every blob and the manifest.
    assert tokens.scopes_requested == [["repository:tests/bearer:pull,push"]]
    assert "eyJ" not in caplog.text  # no JWT in the debug log

    pulled = copy_image(target, f"oci:{tmp_path / 'pulled'}:v1")
    assert pulled.manifest_digest == pushed.manifest_digest
    assert tokens.scopes_requested[1:] == [["repository:tests/bearer:pull"]]

    mounted = copy_image(target, f"docker://{server.host}/tests/bearer-mount:v1")
    assert len(mounted.mounted) == 2
    assert [
        "repository:tests/bearer-mount:pull,push",
        "repository:tests/bearer:pull",
    ] in tokens.scopes_requested


def test_bearer_with_a_wrong_password_fails_at_the_token_endpoint(
    token_registry: tuple[RegistryServer, TokenServer],
    layout: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, tokens = token_registry
    wrong = "wrong-" + uuid.uuid4().hex
    header = "Basic " + b64(f"{tokens.username}:{wrong}")
    monkeypatch.setenv("CNB_REGISTRY_AUTH", json.dumps({server.host: header}))
    result = CliRunner().invoke(
        cli, ["copy", f"oci:{layout}:v1", f"docker://{server.host}/tests/bearer:v1"]
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"error: registry {server.host}: authentication failed")
    assert wrong not in result.output and header not in result.output
    assert tokens.refused >= 1


def test_https_with_a_given_ca_file(
    registry_factory: Callable[..., RegistryServer],
    tmp_path: Path,
    layout: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert, key = make_certificate(tmp_path)
    server = registry_factory(tls=(cert, key))
    credentials = Credentials(server.username, server.password)
    target = parse_reference(f"docker://{server.host}/tests/tls:v1")

    untrusted = RegistryClient(server.host, credentials=credentials, insecure=False)
    with pytest.raises(RegistryError) as err, RegistrySource(target, client=untrusted) as source:
        source.get_manifest()
    assert str(err.value).startswith(f"registry {server.host}: TLS verification failed")

    from cnbsdk.oci.registry import RegistryDestination

    client = RegistryClient(server.host, credentials=credentials, insecure=False, ca_file=str(cert))
    assert client.base_url.startswith("https://")
    with RegistryDestination(target, client=client) as dest:
        for blob in (layout / "blobs" / "sha256").iterdir():
            with blob.open("rb") as stream:
                dest.put_blob("sha256:" + blob.name, blob.stat().st_size, stream)
        manifest = json.loads((layout / "index.json").read_text())["manifests"][0]
        raw = (layout / "blobs" / "sha256" / manifest["digest"][7:]).read_bytes()
        dest.put_manifest(raw, manifest["mediaType"])

    monkeypatch.setenv("CNBSDK_REGISTRY_CA", str(cert))
    with RegistrySource(target, credentials=credentials, insecure=False) as source:
        assert resolve_image(source).digest == manifest["digest"]


def test_loopback_and_named_hosts_use_plain_http() -> None:
    assert uses_plain_http("localhost:5000", None, {})
    assert uses_plain_http("127.0.0.9:5000", None, {})
    assert uses_plain_http("[::1]:5000", None, {})
    assert not uses_plain_http("registry.internal:5000", None, {})
    env = {"CNBSDK_INSECURE_REGISTRIES": "registry.internal:5000, 10.1.0.0/16"}
    assert uses_plain_http("registry.internal:5000", None, env)
    assert uses_plain_http("10.1.2.3", None, env)
    assert not uses_plain_http("registry.internal:6000", None, env)
    assert not uses_plain_http("localhost:5000", False, {})


def test_insecure_registry_option_allows_plain_http_to_a_named_host(
    registry_factory: Callable[..., RegistryServer],
    layout: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The machine's own host name: not a loopback literal, so HTTPS unless named insecure.
    name = socket.gethostname()
    server = registry_factory(listen=socket.gethostbyname(name), name=name)
    for variable, value in server.auth_env().items():
        monkeypatch.setenv(variable, value)
    target = f"docker://{server.host}/tests/insecure:v1"

    refused = CliRunner().invoke(cli, ["copy", f"oci:{layout}:v1", target])
    assert refused.exit_code == 1
    assert "TLS verification failed" in refused.output

    accepted = CliRunner().invoke(
        cli, ["--insecure-registry", server.host, "copy", f"oci:{layout}:v1", target]
    )
    assert accepted.exit_code == 0, accepted.output
