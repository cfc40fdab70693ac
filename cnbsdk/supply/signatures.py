"""cosign-compatible signatures: the simple-signing payload
(``{"critical": {"identity": {"docker-reference": ...}, "image": {"docker-manifest-digest":
...}, "type": "cosign container image signature"}, "optional": {annotations}}``), signed with
ECDSA P-256 over SHA-256, stored as a layer of the ``.sig`` attachment image with the
base64 signature in ``dev.cosignproject.cosign/signature``."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnbsdk.supply.attachments import Layer, Subject, append_layer, attachment_ref, check_layers
from cnbsdk.supply.keys import PrivateKey, PublicKey

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PAYLOAD_TYPE = "cosign container image signature"


def payload(identity: str, digest: str, annotations: Mapping[str, str]) -> bytes:
    """The simple-signing payload, in the field order cosign writes."""
    document = {
        "critical": {
            "identity": {"docker-reference": identity},
            "image": {"docker-manifest-digest": digest},
            "type": PAYLOAD_TYPE,
        },
        "optional": dict(annotations) if annotations else None,
    }
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Signed:
    reference: str  # where the signature is stored
    manifest_digest: str
    payload_digest: str


def sign(target: Subject, key: PrivateKey, annotations: Mapping[str, str]) -> Signed:
    """Sign ``target`` and attach the signature where cosign keeps it."""
    data = payload(target.identity, target.digest, annotations)
    signature = base64.b64encode(key.sign(data)).decode()
    layer = Layer(data, SIMPLE_SIGNING, {SIGNATURE_ANNOTATION: signature})
    ref = attachment_ref(target, "sig")
    return Signed(str(ref), append_layer(ref, layer), layer.digest)


@dataclass(frozen=True)
class Verified:
    """One valid signature: its payload layer and what the payload claims."""

    layer_digest: str
    identity: str
    digest: str
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class Verification:
    reference: str  # the .sig image read
    verified: tuple[Verified, ...]
    rejected: tuple[str, ...]  # one reason per signature that did not verify


def verify(
    target: Subject,
    key: PublicKey,
    *,
    annotations: Mapping[str, str] | None = None,
    check_identity: bool = True,
) -> Verification:
    """Every signature of ``target`` checked against ``key``: the signature over the payload,
    the payload's type, digest and identity, and the ``annotations`` asked for."""
    wanted = annotations or {}
    ref, verified, rejected = check_layers(
        target,
        "sig",
        "signatures",
        lambda descriptor, data: _check(descriptor, data, target, key, wanted, check_identity),
    )
    return Verification(ref, verified, rejected)


def _check(
    descriptor: dict[str, Any],
    data: bytes,
    target: Subject,
    key: PublicKey,
    wanted: Mapping[str, str],
    check_identity: bool,
) -> tuple[str, Verified | None]:
    if descriptor.get("mediaType") != SIMPLE_SIGNING:
        return f"not a simple-signing payload ({descriptor.get('mediaType')})", None
    encoded = (descriptor.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except ValueError:
        return "the signature annotation is not base64", None
    if not encoded or not key.verifies(signature, data):
        return f"the signature does not verify with key {key.fingerprint}", None
    try:
        document = json.loads(data)
        critical = document["critical"]
        claimed_type = critical["type"]
        claimed_digest = critical["image"]["docker-manifest-digest"]
        identity = critical["identity"]["docker-reference"]
        optional = document.get("optional") or {}
    except (ValueError, KeyError, TypeError):
        return "the payload is not a simple-signing document", None
    if claimed_type != PAYLOAD_TYPE:
        return f"the payload's type is {claimed_type!r}", None
    if claimed_digest != target.digest:
        return f"signed for {claimed_digest}, not {target.digest}", None
    if check_identity and identity != target.identity:
        return f"signed for {identity!r}, not {target.identity!r}", None
    for name, value in wanted.items():
        if str(optional.get(name)) != value:
            return f"annotation {name}={optional.get(name)!r}, not {value!r}", None
    claims = Verified(
        str(descriptor.get("digest", "")),
        str(identity),
        str(claimed_digest),
        {str(k): str(v) for k, v in optional.items()},
    )
    return "", claims
