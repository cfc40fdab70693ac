"""cosign's key files: an ECDSA P-256 private key encrypted as cosign writes it
(``ENCRYPTED SIGSTORE PRIVATE KEY``: scrypt + NaCl secretbox around the PKCS #8 key, the
format of go-securesystemslib's ``encrypted`` package) and a PEM public key.

The cryptography is ``cryptography``'s (ECDSA, PEM, PKCS #8) and PyNaCl's (secretbox);
scrypt is the standard library's. Passwords come from ``COSIGN_PASSWORD`` or a prompt and
are never written anywhere.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cnbsdk.errors import CnbError

ENCRYPTED_TYPES = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
WRITTEN_TYPE = ENCRYPTED_TYPES[0]
# go-securesystemslib's defaults, which cosign uses
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
PASSWORD_VARIABLE = "COSIGN_PASSWORD"


class SigningError(CnbError):
    """A key, a signature or an attestation could not be made, read or verified."""


@dataclass(frozen=True)
class PrivateKey:
    key: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        """An ASN.1 DER ECDSA signature over SHA-256 of ``data`` (what cosign stores)."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER public key, shortened: how the CLI names a key."""
        der = self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "sha256:" + hashlib.sha256(der).hexdigest()[:16]


def generate() -> PrivateKey:
    return PrivateKey(ec.generate_private_key(ec.SECP256R1()))


def encrypt_private_key(key: PrivateKey, password: bytes) -> bytes:
    """The PEM file cosign's ``generate-key-pair`` writes."""
    from nacl.secret import SecretBox

    der = key.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = os.urandom(32)
    secret = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    nonce = os.urandom(SecretBox.NONCE_SIZE)
    sealed = SecretBox(secret).encrypt(der, nonce).ciphertext
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return _pem(WRITTEN_TYPE, json.dumps(document).encode())


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=256 << 20, dklen=32)


def _pem(kind: str, data: bytes) -> bytes:
    body = base64.encodebytes(data).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n").encode()


def _pem_blocks(text: str) -> list[tuple[str, bytes]]:
    blocks = []
    kind = ""
    body: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            kind, body = line[11:-5], []
        elif line.startswith("-----END ") and kind:
            with contextlib.suppress(ValueError):
                blocks.append((kind, base64.b64decode("".join(body), validate=True)))
            kind = ""
        elif kind:
            body.append(line)
    return blocks


def load_private_key(path: Path, password: bytes | None) -> PrivateKey:
    """A cosign private key file (encrypted; plain PKCS #8/SEC 1 PEM is accepted too)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as error:
        raise SigningError(f"cannot read the key: {error.strerror}", file=str(path)) from None
    blocks = _pem_blocks(text)
    for kind, data in blocks:
        if kind in ENCRYPTED_TYPES:
            return PrivateKey(_decrypt(data, password, path))
    for kind, _data in blocks:
        if kind in ("PRIVATE KEY", "EC PRIVATE KEY"):
            try:
                key = serialization.load_pem_private_key(text.encode(), password=None)
            except (ValueError, TypeError) as error:
                raise SigningError(f"not a usable private key: {error}", file=str(path)) from None
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise SigningError("not an ECDSA key", file=str(path))
            return PrivateKey(key)
    raise SigningError(
        "no private key in this file (expected cosign's ENCRYPTED SIGSTORE PRIVATE KEY)",
        file=str(path),
    )


def needs_password(path: Path) -> bool:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return False
    return any(kind in ENCRYPTED_TYPES for kind, _ in _pem_blocks(text))


def _decrypt(data: bytes, password: bytes | None, path: Path) -> ec.EllipticCurvePrivateKey:
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        document = json.loads(data)
        kdf, cipher = document["kdf"], document["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "nacl/secretbox":
            raise ValueError(f"unsupported {kdf['name']}/{cipher['name']}")
        params = kdf["params"]
        secret = _scrypt(
            password or b"",
            base64.b64decode(kdf["salt"]),
            int(params["N"]),
            int(params["r"]),
            int(params["p"]),
        )
        nonce = base64.b64decode(cipher["nonce"])
        sealed = base64.b64decode(document["ciphertext"])
    except (ValueError, KeyError, TypeError) as error:
        raise SigningError(f"not a cosign key file: {error}", file=str(path)) from None
    try:
        der = SecretBox(secret).decrypt(sealed, nonce)
    except CryptoError:
        raise SigningError(
            f"cannot decrypt the key: wrong password ({PASSWORD_VARIABLE})", file=str(path)
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningError("not an ECDSA key", file=str(path))
    return key


def load_public_key(path: Path) -> PublicKey:
    """A PEM public key (what ``cosign generate-key-pair`` writes as ``cosign.pub``)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise SigningError(f"cannot read the key: {error.strerror}", file=str(path)) from None
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise SigningError("not a PEM public key", file=str(path)) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningError("not an ECDSA public key", file=str(path))
    return PublicKey(key)
