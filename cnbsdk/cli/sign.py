"""``cnbsdk sign``, ``verify``, ``generate-key-pair``, ``attest``, ``verify-attestation``:
cosign-compatible signatures and SBOM attestations."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from cnbsdk.errors import CnbError


def _annotations(values: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r}: expected key=value", param_hint="-a")
        found[name] = text
    return found


def password(*, confirm: bool = False) -> bytes:
    """``COSIGN_PASSWORD``, else asked on the terminal (never echoed, never logged)."""
    from cnbsdk.supply.keys import PASSWORD_VARIABLE

    if PASSWORD_VARIABLE in os.environ:
        return os.environ[PASSWORD_VARIABLE].encode()
    if not sys.stdin.isatty():
        raise CnbError(f"the key is encrypted: set {PASSWORD_VARIABLE} (no terminal to ask on)")
    text: str = click.prompt(
        "Password for the private key", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return text.encode()


annotation_option = click.option(
    "-a",
    "--annotation",
    "annotations",
    multiple=True,
    metavar="KEY=VALUE",
    help="An annotation in the payload (sign) or required of it (verify); repeatable.",
)


@click.command("sign")
@click.argument("reference")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
              help="The private key (cosign's format: cosign.key).")  # fmt: skip
@annotation_option
def sign(reference: str, key_path: Path, annotations: tuple[str, ...]) -> None:
    """Sign the image REFERENCE as cosign does: a simple-signing payload naming its digest,
    stored under the tag sha256-<hex>.sig beside it (or in $COSIGN_REPOSITORY)."""
    from cnbsdk.supply.attachments import subject
    from cnbsdk.supply.keys import load_private_key, needs_password
    from cnbsdk.supply.signatures import sign as sign_image

    wanted = _annotations(annotations)
    key = load_private_key(key_path, password() if needs_password(key_path) else None)
    target = subject(reference)
    signed = sign_image(target, key, wanted)
    click.echo(
        f"Signed {reference} ({target.digest}) with key {key.public.fingerprint}; "
        f"signature in {signed.reference}"
    )


@click.command("verify")
@click.argument("reference")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
              help="The public key (PEM: cosign.pub).")  # fmt: skip
@annotation_option
@click.option("--any-identity", is_flag=True,
              help="Accept signatures naming another repository (a copied image).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print what was verified as JSON.")
def verify(
    reference: str,
    key_path: Path,
    annotations: tuple[str, ...],
    any_identity: bool,
    as_json: bool,
) -> None:
    """Check the cosign signatures of the image REFERENCE against the public key: each
    signature over its payload, and the payload's digest, identity and annotations.
    Exits non-zero unless one signature passes every check."""
    from cnbsdk.supply.attachments import subject
    from cnbsdk.supply.keys import SigningError, load_public_key
    from cnbsdk.supply.signatures import verify as verify_image

    key = load_public_key(key_path)
    target = subject(reference)
    result = verify_image(
        target, key, annotations=_annotations(annotations), check_identity=not any_identity
    )
    if as_json:
        data = {
            "image": reference,
            "digest": target.digest,
            "key": key.fingerprint,
            "signatures": result.reference,
            "verified": [
                {
                    "layer": v.layer_digest,
                    "identity": v.identity,
                    "annotations": dict(v.annotations),
                }
                for v in result.verified
            ],
            "rejected": list(result.rejected),
        }
        click.echo(json.dumps(data, indent=2))
    else:
        count = len(result.verified) + len(result.rejected)
        click.echo(
            f"Checked {count} signature(s) of {reference} ({target.digest}) "
            f"in {result.reference} with key {key.fingerprint}:"
        )
        for v in result.verified:
            notes = ", ".join(f"{k}={val}" for k, val in sorted(v.annotations.items()))
            extra = f", annotations {notes}" if notes else ""
            click.echo(
                f"  verified {v.layer_digest[:19]}: signature, digest, identity {v.identity}{extra}"
            )
        for reason in result.rejected:
            click.echo(f"  rejected {reason}")
    if not result.verified:
        raise SigningError(
            f"no signature verifies with key {key.fingerprint}: {result.rejected[0]}",
            file=reference,
        )


@click.command("generate-key-pair")
@click.option("--output-key-prefix", default="cosign", show_default=True,
              help="Write PREFIX.key (encrypted, 0600) and PREFIX.pub.")  # fmt: skip
def generate_key_pair(output_key_prefix: str) -> None:
    """Make an ECDSA P-256 key pair in cosign's format, for people without cosign. The
    password comes from $COSIGN_PASSWORD or is asked twice."""
    from cnbsdk.supply.keys import encrypt_private_key, generate

    private, public = Path(f"{output_key_prefix}.key"), Path(f"{output_key_prefix}.pub")
    for path in (private, public):
        if path.exists() or path.is_symlink():
            raise CnbError("already exists; refusing to overwrite a key", file=str(path))
    key = generate()
    encrypted = encrypt_private_key(key, password(confirm=True))
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(encrypted)
    public.write_bytes(key.public.pem())
    click.echo(f"Private key written to {private}")
    click.echo(f"Public key written to {public} ({key.public.fingerprint})")


@click.command("attest")
@click.argument("reference")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
              help="The private key (cosign's format: cosign.key).")  # fmt: skip
def attest(reference: str, key_path: Path) -> None:
    """Attach the image's merged SBOM (the run image's OS packages and every launch SBOM, as
    `cnbsdk sbom --merged` prints it) as a signed in-toto statement, stored where cosign
    keeps attestations (sha256-<hex>.att)."""
    from cnbsdk.supply.attachments import subject
    from cnbsdk.supply.attestations import attest as attest_image
    from cnbsdk.supply.image_sbom import merged_sbom
    from cnbsdk.supply.keys import load_private_key, needs_password

    key = load_private_key(key_path, password() if needs_password(key_path) else None)
    target = subject(reference)
    sbom = merged_sbom(reference)
    attested = attest_image(target, key, sbom.document)
    click.echo(
        f"Attested the SBOM of {reference} ({target.digest}; {len(sbom.components)} components) "
        f"with key {key.public.fingerprint}; attestation in {attested.reference}"
    )


@click.command("verify-attestation")
@click.argument("reference")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path),
              help="The public key (PEM: cosign.pub).")  # fmt: skip
@click.option(
    "--type",
    "predicate",
    default="cyclonedx",
    show_default=True,
    help="The predicate type wanted: cyclonedx, a predicate type URI, or 'any'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verified statements as JSON.")
def verify_attestation(reference: str, key_path: Path, predicate: str, as_json: bool) -> None:
    """Check the attestations of the image REFERENCE against the public key: each envelope's
    signature, the statement's subject (REFERENCE's digest) and predicate type. Exits
    non-zero unless one attestation passes."""
    from cnbsdk.supply.attachments import subject
    from cnbsdk.supply.attestations import PREDICATE_TYPES, verify_attestations
    from cnbsdk.supply.keys import SigningError, load_public_key

    key = load_public_key(key_path)
    target = subject(reference)
    wanted = None if predicate == "any" else PREDICATE_TYPES.get(predicate, predicate)
    result = verify_attestations(target, key, wanted)
    if as_json:
        click.echo(json.dumps([v.statement for v in result.verified], indent=2))
    else:
        click.echo(
            f"Checked {len(result.verified) + len(result.rejected)} attestation(s) of "
            f"{reference} ({target.digest}) in {result.reference} with key {key.fingerprint}:"
        )
        for v in result.verified:
            components = len((v.statement.get("predicate") or {}).get("components") or [])
            click.echo(
                f"  verified {v.layer_digest[:19]}: signature, subject, {v.predicate_type}"
                + (f" ({components} components)" if components else "")
            )
        for reason in result.rejected:
            click.echo(f"  rejected {reason}")
    if not result.verified:
        raise SigningError(
            f"no attestation verifies with key {key.fingerprint}: {result.rejected[0]}",
            file=reference,
        )
