"""The JVM's trust store made from PEM certificates (the OS bundle, ``ca-certificates``
bindings): a JKS file, which every JVM reads as ``lib/security/cacerts``.

Written here because keytool imports one certificate per run (a bundle of 140 would take
half a minute) and the standard library has no key-store writer. JKS is simple: trusted
certificate entries, then a SHA-1 over the password, a fixed phrase and the contents.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Iterable
from pathlib import Path

OS_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PASSWORD = "changeit"  # the JDK's default cacerts password
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)


def pem_certificates(data: bytes) -> list[bytes]:
    """The DER bytes of every certificate in a PEM bundle."""
    return [base64.b64decode(b"".join(m.group(1).split())) for m in _PEM.finditer(data)]


def _utf(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return struct.pack(">H", len(encoded)) + encoded


def jks_bytes(certificates: Iterable[bytes], password: str = PASSWORD) -> bytes:
    """A JKS key store holding ``certificates`` as trusted entries (aliases are their
    SHA-1 fingerprints, so the same certificate twice is one entry)."""
    unique: dict[str, bytes] = {}
    for der in certificates:
        unique.setdefault(hashlib.sha1(der).hexdigest(), der)
    body = bytearray(struct.pack(">III", 0xFEEDFEED, 2, len(unique)))
    for alias, der in sorted(unique.items()):
        body += struct.pack(">I", 2) + _utf(alias) + struct.pack(">q", 0)
        body += _utf("X.509") + struct.pack(">I", len(der)) + der
    digest = hashlib.sha1()
    digest.update(password.encode("utf-16-be"))
    digest.update(b"Mighty Aphrodite")
    digest.update(body)
    return bytes(body) + digest.digest()


def write_trust_store(path: Path, pem_files: Iterable[Path]) -> int:
    """Write a JKS trust store of every certificate in ``pem_files`` to ``path`` (replacing
    a file or a link there); returns how many certificates it holds."""
    certificates: list[bytes] = []
    for pem in pem_files:
        if pem.is_file():
            certificates += pem_certificates(pem.read_bytes())
    data = jks_bytes(certificates)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return int(struct.unpack(">I", data[8:12])[0])


def bundle_digest(pem_files: Iterable[Path]) -> str:
    """A digest of the certificates' files, for a layer's cache key."""
    digest = hashlib.sha256()
    for pem in pem_files:
        digest.update(pem.read_bytes() if pem.is_file() else b"-")
    return "sha256:" + digest.hexdigest()
