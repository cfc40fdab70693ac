"""Dependency mirrors: ``BP_DEPENDENCY_MIRROR`` and ``BP_DEPENDENCY_MIRROR_<HOST>``, and the
``dependency-mapping`` and ``dependency-mirror`` service bindings Paketo defines.

As packit's ``postal`` reads them: ``<HOST>`` encodes the original host name with ``__`` for
``-`` and ``_`` for ``.`` (``BP_DEPENDENCY_MIRROR_DL_EXAMPLE__CDN_ORG`` is for
``dl.example-cdn.org``); a host-specific mirror beats the default one. A mirror is an
``https://`` or ``file://`` URL whose path may hold ``{originalHost}``; the original path is
appended to it. Plain ``http://`` is accepted only for loopback mirrors (tests, local caches).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cnbsdk.errors import DependencyError

DEFAULT_MIRROR = "BP_DEPENDENCY_MIRROR"
_HOST_PREFIX = DEFAULT_MIRROR + "_"


def decode_host(suffix: str) -> str:
    """``DL_EXAMPLE__CDN_ORG`` → ``dl.example-cdn.org``."""
    return suffix.replace("__", "-").replace("_", ".").lower()


def mirrors_from(environ: Mapping[str, str]) -> dict[str, str]:
    """``{"default" | host: mirror}`` from the environment."""
    mirrors: dict[str, str] = {}
    for key, value in environ.items():
        if not value:
            continue
        if key == DEFAULT_MIRROR:
            mirrors["default"] = value
        elif key.startswith(_HOST_PREFIX) and len(key) > len(_HOST_PREFIX):
            mirrors[decode_host(key[len(_HOST_PREFIX) :])] = value
    return mirrors


class BindingLike(Protocol):
    """The parts of ``cnbsdk.buildpack.Binding`` used here (deps does not import it)."""

    type: str
    entries: Mapping[str, Path]


MAPPING_BINDING = "dependency-mapping"
MIRROR_BINDING = "dependency-mirror"
CA_BINDING = "ca-certificates"


def _entries(bindings: Sequence[BindingLike], binding_type: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for binding in bindings:
        if binding.type.lower() != binding_type:
            continue
        for key, path in sorted(binding.entries.items()):
            found.setdefault(key, Path(path).read_text(encoding="utf-8").strip())
    return found


def ca_certificate_files(bindings: Sequence[BindingLike]) -> list[Path]:
    """The PEM files of ``ca-certificates`` bindings (Paketo's type): certificate
    authorities to trust besides the system's, e.g. a company proxy's."""
    return [
        Path(path)
        for binding in bindings
        if binding.type.lower() == CA_BINDING
        for _key, path in sorted(binding.entries.items())
    ]


def mapped_uri(checksum: str, bindings: Sequence[BindingLike]) -> str | None:
    """The URI a ``dependency-mapping`` binding gives the artifact with ``checksum``: its
    entries are named ``<hex>``, ``sha256:<hex>`` or ``sha256_<hex>``."""
    mapping = _entries(bindings, MAPPING_BINDING)
    algorithm, _, digest = checksum.partition(":")
    for key in (digest, checksum, f"{algorithm}_{digest}"):
        if mapping.get(key):
            return mapping[key]
    return None


def binding_mirrors(bindings: Sequence[BindingLike]) -> dict[str, str]:
    """``{"default" | host: mirror}`` from ``dependency-mirror`` bindings."""
    return {
        key.lower(): value for key, value in _entries(bindings, MIRROR_BINDING).items() if value
    }


def mirror_uri(uri: str, environ: Mapping[str, str], bindings: Sequence[BindingLike] = ()) -> str:
    """``uri`` rewritten through the mirror that applies to its host, or unchanged. Mirrors
    from the environment win over those of ``dependency-mirror`` bindings."""
    mirrors = mirrors_from(environ) or binding_mirrors(bindings)
    if not mirrors:
        return uri
    original = urllib.parse.urlsplit(uri)
    if original.scheme not in ("http", "https"):
        return uri
    host = (original.hostname or "").lower()
    key = host if host in mirrors else "default" if "default" in mirrors else ""
    if not key:
        return uri
    mirror = mirrors[key]
    parsed = urllib.parse.urlsplit(mirror)
    scheme = parsed.scheme.lower()
    if scheme not in ("https", "file") and not (scheme == "http" and _loopback(parsed.hostname)):
        variable = DEFAULT_MIRROR if key == "default" else f"{_HOST_PREFIX}<{key}>"
        if not mirrors_from(environ):
            variable = f"{MIRROR_BINDING} binding entry {key!r}"
        raise DependencyError(
            f"mirror {mirror!r} must be an https:// or file:// URL", field=variable
        )
    path = parsed.path.replace("{originalHost}", host, 1).rstrip("/") + original.path
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, original.query, ""))


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
