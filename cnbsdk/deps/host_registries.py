"""The package repositories this host is configured with, for catalog URIs that name none.

``cnbsdk build`` and ``cnbsdk package buildpack --offline`` run on the host, where npm, pip
and apt already know which registry, index and archive to use (a company mirror, say). When
a build's buildpacks have ``npm:``, ``pypi:`` or ``deb:`` dependencies and the build env does
not name the repository, :func:`registry_env` fills ``BP_NPM_REGISTRY``, ``BP_PYPI_INDEX``
and ``BP_DEBIAN_MIRROR`` from that configuration. Asking npm or pip costs a fraction of a
second, so their answers are cached while their configuration files are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from cnbsdk.deps.registries import (
    DEB_SCHEME,
    DEBIAN_MIRROR_VARIABLE,
    NPM_SCHEME,
    PYPI_SCHEME,
    debian_mirrors,
    npm_registry,
    pypi_index,
    scheme_of,
)

# Where npm and pip read their configuration besides the environment.
_NPMRC_FILES = ("~/.npmrc", "/etc/npmrc", "/usr/etc/npmrc", "/usr/local/etc/npmrc")
_PIP_FILES = ("~/.config/pip/pip.conf", "~/.pip/pip.conf", "/etc/pip.conf", "/etc/xdg/pip/pip.conf")
_APT_SOURCES = Path("/etc/apt/sources.list")
_APT_SOURCE_PARTS = Path("/etc/apt/sources.list.d")

# pip's own answer: its configured index, else its built-in default (no host written here).
_PIP_INDEX_PROGRAM = """
try:
    from pip._internal.configuration import Configuration
    configuration = Configuration(isolated=False)
    configuration.load()
    values = dict(configuration.items())
    for key in ("install.index-url", "download.index-url", "global.index-url"):
        if values.get(key):
            print(values[key])
            raise SystemExit(0)
except SystemExit:
    raise
except Exception:
    pass
from pip._internal.models.index import PyPI
print(PyPI.simple_url)
"""


def _config_key(program: str, files: Iterable[str], env_prefix: str) -> str:
    """What a tool's answer depends on: the tool, its configuration files (their
    modification times) and its own env variables."""
    parts = [os.path.realpath(program)]
    for name in files:
        path = os.path.expanduser(name)
        try:
            parts.append(f"{path}:{os.stat(path).st_mtime_ns}")
        except OSError:
            parts.append(f"{path}:-")
    parts += sorted(f"{k}={v}" for k, v in os.environ.items() if k.lower().startswith(env_prefix))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _cached(cache_file: Path | None, key: str, compute: Callable[[], str | None]) -> str | None:
    """``compute()``, kept in ``cache_file`` while ``key`` holds (only answers, never None)."""
    if cache_file is not None:
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("key") == key and isinstance(cached.get("value"), str):
                return str(cached["value"])
        except (OSError, ValueError, AttributeError):
            pass
    value = compute()
    if value is not None and cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache_file.with_name(f".{cache_file.name}.{os.getpid()}")
            temporary.write_text(json.dumps({"key": key, "value": value}))
            os.replace(temporary, cache_file)
        except OSError:
            pass  # a cache, nothing more
    return value


def _ask(args: list[str]) -> str | None:
    try:
        result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = result.stdout.strip().splitlines()
    value = lines[-1].strip() if lines else ""
    return value if result.returncode == 0 and "://" in value else None


def host_npm_registry(cache_file: Path | None = None) -> str | None:
    """The registry the host's npm is configured with (``npm config get registry``), or
    None without npm. A build image has no npm: this runs on the host only."""
    npm = shutil.which("npm")
    if npm is None:
        return None
    extra = [
        os.environ[v]
        for v in ("NPM_CONFIG_USERCONFIG", "NPM_CONFIG_GLOBALCONFIG")
        if v in os.environ
    ]
    key = _config_key(npm, [npm, *_NPMRC_FILES, *extra], "npm_config_")
    return _cached(cache_file, key, lambda: _ask([npm, "config", "get", "registry"]))


def host_pypi_index(cache_file: Path | None = None) -> str | None:
    """The package index the host's pip uses (its configuration, else pip's default), or
    None without pip."""
    python = sys.executable or shutil.which("python3") or ""
    if not python:
        return None
    extra = [os.environ["PIP_CONFIG_FILE"]] if "PIP_CONFIG_FILE" in os.environ else []
    key = _config_key(python, [python, *_PIP_FILES, *extra], "pip_")
    return _cached(cache_file, key, lambda: _ask([python, "-c", _PIP_INDEX_PROGRAM]))


_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)")


def host_debian_mirrors(sources: Path = _APT_SOURCES, parts: Path = _APT_SOURCE_PARTS) -> list[str]:
    """The archive roots of the host's apt ``deb`` sources (one-line and deb822 files), in
    the order apt reads them; http(s) and file URLs only."""
    texts: list[tuple[str, str]] = []
    if sources.is_file():
        texts.append((".list", sources.read_text(errors="replace")))
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix in (".list", ".sources") and path.is_file():
                texts.append((path.suffix, path.read_text(errors="replace")))
    roots: list[str] = []
    for kind, text in texts:
        found = _deb822_uris(text) if kind == ".sources" else _one_line_uris(text)
        roots += [u.rstrip("/") for u in found if u.startswith(("http://", "https://", "file:"))]
    return list(dict.fromkeys(roots))


def _one_line_uris(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := _ONE_LINE.match(line))]


def _deb822_uris(text: str) -> list[str]:
    uris: list[str] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            uris += fields.get("uris", "").split()
    return uris


def registry_env(
    uris: Iterable[str],
    environ: Mapping[str, str],
    host_environ: Mapping[str, str] | None = None,
    *,
    cache_dir: Path | None = None,
) -> dict[str, str]:
    """What a platform adds to a build's env so that ``uris`` resolve: for each kind of
    registry-relative URI among them that the build's ``environ`` does not configure, the
    host's environment's setting, else the host tool's configuration."""
    host = host_environ or {}
    schemes = {scheme_of(uri) for uri in uris}
    extra: dict[str, str] = {}
    if NPM_SCHEME in schemes and not npm_registry(environ):
        cache = cache_dir / "host-npm-registry.json" if cache_dir else None
        registry = npm_registry(host) or host_npm_registry(cache)
        if registry:
            extra["BP_NPM_REGISTRY"] = registry
    if PYPI_SCHEME in schemes and not pypi_index(environ):
        cache = cache_dir / "host-pypi-index.json" if cache_dir else None
        index = pypi_index(host) or host_pypi_index(cache)
        if index:
            extra["BP_PYPI_INDEX"] = index
    if DEB_SCHEME in schemes and not debian_mirrors(environ):
        mirrors = debian_mirrors(host) or host_debian_mirrors()
        if mirrors:
            extra[DEBIAN_MIRROR_VARIABLE] = " ".join(mirrors)
    return extra
