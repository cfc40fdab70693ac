"""Which registries are spoken to over plain HTTP, and which CA bundle verifies the others.

Like Docker: loopback addresses (``localhost``, 127.0.0.0/8, ``::1``) and the hosts named in
``--insecure-registry`` / ``CNBSDK_INSECURE_REGISTRIES`` use HTTP; everything else HTTPS,
verified against the system's CA bundle or a given CA file.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from pathlib import Path

from cnbsdk.errors import RegistryError
from cnbsdk.oci.reference import valid_registry_host

# CNBSDK_INSECURE_REGISTRIES is ours; CNB_INSECURE_REGISTRIES is the lifecycle's (platform.md).
INSECURE_VARIABLES = ("CNBSDK_INSECURE_REGISTRIES", "CNB_INSECURE_REGISTRIES")
CA_VARIABLE = "CNBSDK_REGISTRY_CA"


def split_host(registry: str) -> tuple[str, str]:
    """``host:port`` -> (``host``, ``port``); handles ``[::1]:5000``."""
    if registry.startswith("["):
        host, _, rest = registry[1:].partition("]")
        return host, rest.lstrip(":")
    if registry.count(":") == 1:
        host, _, port = registry.partition(":")
        return host, port
    return registry, ""


def is_loopback(registry: str) -> bool:
    host, _ = split_host(registry)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_insecure_entry(entry: str) -> str:
    """An insecure-registry entry as given (``HOST``, ``HOST:PORT``, a CIDR range, with an
    optional ``http://``); RegistryError saying why anything else is not one."""
    bare = entry.strip().lower().removeprefix("http://").removeprefix("https://").rstrip("/")
    if "/" in bare:
        try:
            ipaddress.ip_network(bare, strict=False)
        except ValueError:
            raise RegistryError(
                f"invalid insecure registry {entry[:80]!r}: not HOST[:PORT] or a CIDR range"
            ) from None
        return entry
    if not bare or not valid_registry_host(bare):
        raise RegistryError(
            f"invalid insecure registry {entry[:80]!r}: expected HOST[:PORT] or a CIDR range"
        )
    return entry


def insecure_registries(environ: Mapping[str, str] | None = None) -> list[str]:
    """The entries of ``CNBSDK_INSECURE_REGISTRIES`` (and ``CNB_INSECURE_REGISTRIES``);
    a malformed entry is refused naming the variable."""
    env = os.environ if environ is None else environ
    entries: list[str] = []
    for name in INSECURE_VARIABLES:
        for part in env.get(name, "").split(","):
            if not part.strip():
                continue
            try:
                entries.append(check_insecure_entry(part.strip()))
            except RegistryError as error:
                raise RegistryError(error.message, field=name) from None
    return entries


def is_insecure(registry: str, entries: list[str]) -> bool:
    """True when an entry names this registry (``host``, ``host:port`` or a CIDR range)."""
    host, _ = split_host(registry)
    for entry in entries:
        entry = entry.lower().removeprefix("http://").removeprefix("https://").rstrip("/")
        if entry in (registry.lower(), host.lower()):
            return True
        if "/" in entry:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def uses_plain_http(
    registry: str, insecure: bool | None, environ: Mapping[str, str] | None = None
) -> bool:
    """``insecure`` None means: decide from loopback-ness and the insecure list."""
    if insecure is not None:
        return insecure
    return is_loopback(registry) or is_insecure(registry, insecure_registries(environ))


def tls_verify(ca_file: str | None, environ: Mapping[str, str] | None = None) -> str | bool:
    """What ``requests`` should verify HTTPS with: a CA file, else the system bundle."""
    env = os.environ if environ is None else environ
    chosen = ca_file or env.get(CA_VARIABLE) or ""
    if chosen:
        if not Path(chosen).is_file():
            where = "CA file" if ca_file else CA_VARIABLE
            raise RegistryError(f"{where} {chosen} does not exist")
        return chosen
    system = ssl.get_default_verify_paths().cafile
    if system and Path(system).is_file():
        return system
    return True
