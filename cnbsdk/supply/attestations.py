"""cosign-compatible attestations: an in-toto statement about the image (its subject is the
image's digest; its predicate, here, the merged CycloneDX SBOM) in a DSSE envelope signed
over DSSE's pre-authentication encoding, stored as a layer of the ``.att`` attachment image
(media type ``application/vnd.dsse.envelope.v1+json``, annotation ``predicateType``), as
``cosign attest`` stores it."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnbsdk.supply.attachments import Layer, Subject, append_layer, attachment_ref, check_layers
from cnbsdk.supply.keys import PrivateKey, PublicKey
from cnbsdk.supply.signatures import SIGNATURE_ANNOTATION

DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v0.1"
CYCLONEDX = "https://cyclonedx.org/bom"
PREDICATE_TYPES = {"cyclonedx": CYCLONEDX}


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(target: Subject, predicate_type: str, predicate: Mapping[str, Any]) -> bytes:
    algorithm, _, hexdigest = target.digest.partition(":")
    document = {
        "_type": STATEMENT_TYPE,
        "predicateType": predicate_type,
        "subject": [{"name": target.identity, "digest": {algorithm: hexdigest}}],
        "predicate": dict(predicate),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=False).encode()


@dataclass(frozen=True)
class Attested:
    reference: str
    manifest_digest: str
    envelope_digest: str


def attest(
    target: Subject, key: PrivateKey, predicate: Mapping[str, Any], predicate_type: str = CYCLONEDX
) -> Attested:
    """Sign a statement about ``target`` and attach it where cosign keeps attestations."""
    body = statement(target, predicate_type, predicate)
    envelope = {
        "payloadType": IN_TOTO,
        "payload": base64.b64encode(body).decode(),
        "signatures": [
            {"keyid": "", "sig": base64.b64encode(key.sign(pae(IN_TOTO, body))).decode()}
        ],
    }
    data = json.dumps(envelope, separators=(",", ":")).encode()
    layer = Layer(data, DSSE_ENVELOPE, {SIGNATURE_ANNOTATION: "", "predicateType": predicate_type})
    ref = attachment_ref(target, "att")
    return Attested(str(ref), append_layer(ref, layer), layer.digest)


@dataclass(frozen=True)
class VerifiedStatement:
    layer_digest: str
    predicate_type: str
    statement: dict[str, Any]


@dataclass(frozen=True)
class AttestationCheck:
    reference: str
    verified: tuple[VerifiedStatement, ...]
    rejected: tuple[str, ...]


def verify_attestations(
    target: Subject, key: PublicKey, predicate_type: str | None = CYCLONEDX
) -> AttestationCheck:
    """Every attestation of ``target`` checked against ``key``: the envelope's signature over
    its payload, the statement's subject digest and (when given) its predicate type."""
    ref, verified, rejected = check_layers(
        target,
        "att",
        "attestations",
        lambda descriptor, data: _check(descriptor, data, target, key, predicate_type),
    )
    return AttestationCheck(ref, verified, rejected)


def _check(
    descriptor: Mapping[str, Any],
    data: bytes,
    target: Subject,
    key: PublicKey,
    predicate_type: str | None,
) -> tuple[str, VerifiedStatement | None]:
    if descriptor.get("mediaType") != DSSE_ENVELOPE:
        return f"not a DSSE envelope ({descriptor.get('mediaType')})", None
    try:
        envelope = json.loads(data)
        payload_type = str(envelope["payloadType"])
        body = base64.b64decode(envelope["payload"], validate=True)
        signatures = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]]
    except (ValueError, KeyError, TypeError):
        return "the envelope is malformed", None
    if not any(key.verifies(sig, pae(payload_type, body)) for sig in signatures):
        return f"the envelope's signature does not verify with key {key.fingerprint}", None
    try:
        document = json.loads(body)
        subjects = document["subject"]
        kind = str(document["predicateType"])
    except (ValueError, KeyError, TypeError):
        return "the payload is not an in-toto statement", None
    algorithm, _, hexdigest = target.digest.partition(":")
    if not any((s.get("digest") or {}).get(algorithm) == hexdigest for s in subjects):
        named = ", ".join(f"{algorithm}:{(s.get('digest') or {}).get(algorithm)}" for s in subjects)
        return f"about {named}, not {target.digest}", None
    if predicate_type is not None and kind != predicate_type:
        return f"its predicate is {kind}, not {predicate_type}", None
    return "", VerifiedStatement(str(descriptor.get("digest", "")), kind, document)
