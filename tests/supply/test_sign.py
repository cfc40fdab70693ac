"""cosign-compatible signing: keys in cosign's format, signatures stored as cosign stores
them in a registry (docker-registry on loopback) and in an OCI layout, checked both ways
with an independent implementation (Debian's skopeo, with a sigstoreSigned policy), and
tampering refused with one line."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from cnbsdk.oci.digest import sha256_digest
from cnbsdk.oci.open import open_source
from cnbsdk.supply.keys import generate
from tests.registry_server import RegistryServer, make_oci_image, write_random_layer
from tests.supply.conftest import rewrite_attachment

PASSWORD = "correct horse battery staple"


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    import sys

    return subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("keys")
    made = cli("generate-key-pair", env={"COSIGN_PASSWORD": PASSWORD}, cwd=directory)
    assert made.returncode == 0, made.stderr
    other = cli("generate-key-pair", "--output-key-prefix", "other",
                env={"COSIGN_PASSWORD": "x"}, cwd=directory)  # fmt: skip
    assert other.returncode == 0, other.stderr
    return directory


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = tmp_path_factory.mktemp("images") / "layout"
    for seed, tag in enumerate(("one", "two")):
        layer = write_random_layer(layout.parent, 2048, seed=seed + 40)
        make_oci_image(layout, tag, [layer], label=tag)
    return layout


@pytest.fixture
def pushed(registry: RegistryServer, images: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Image one in a repository of this test's own."""
    name = f"{registry.host}/sign-{request.node.name.split('[')[0][5:40].replace('_', '-')}"
    copied = cli("copy", f"oci:{images}:one", f"{name}:1", env=registry.auth_env())
    assert copied.returncode == 0, copied.stderr
    yield name


def env(registry: RegistryServer, **extra: str) -> dict[str, str]:
    return {**registry.auth_env(), "COSIGN_PASSWORD": PASSWORD, **extra}


def test_the_key_pair_is_cosign_shaped_and_never_holds_the_password(keys: Path) -> None:
    private = (keys / "cosign.key").read_text()
    assert private.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert stat.S_IMODE((keys / "cosign.key").stat().st_mode) == 0o600
    body = base64.b64decode("".join(private.splitlines()[1:-1]))
    document = json.loads(body)
    assert document["kdf"]["name"] == "scrypt" and document["cipher"]["name"] == "nacl/secretbox"
    assert PASSWORD.encode() not in body
    assert (keys / "cosign.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = cli("generate-key-pair", env={"COSIGN_PASSWORD": "x"}, cwd=keys)
    assert again.returncode != 0
    assert again.stderr.strip() == "error: cosign.key: already exists; refusing to overwrite a key"


def test_sign_then_verify_in_a_registry(keys: Path, registry: RegistryServer, pushed: str) -> None:
    signed = cli("sign", f"{pushed}:1", "--key", str(keys / "cosign.key"),
                 "-a", "build=1", env=env(registry))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert PASSWORD not in signed.stdout + signed.stderr
    digest = signed.stdout.split("(")[1].split(")")[0]
    assert f"signature in docker://{pushed}:{digest.replace(':', '-')}.sig" in signed.stdout
    checked = cli("verify", f"{pushed}:1", "--key", str(keys / "cosign.pub"), "-a", "build=1",
                  env=env(registry))  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert f"identity {pushed}, annotations build=1" in checked.stdout
    wrong_annotation = cli("verify", f"{pushed}:1", "--key", str(keys / "cosign.pub"),
                           "-a", "build=2", env=env(registry))  # fmt: skip
    assert wrong_annotation.returncode == 1
    assert "annotation build='1', not '2'" in wrong_annotation.stderr


def _sig_ref(name: str, digest: str) -> str:
    return f"{name}:{digest.replace(':', '-')}.sig"


def _digest(ref: str, registry: RegistryServer) -> str:
    with mock.patch.dict(os.environ, registry.auth_env()):
        source = open_source(ref)
        try:
            return sha256_digest(source.get_manifest()[0])
        finally:
            source.close()


def _rewrite_signature(ref: str, registry: RegistryServer, change) -> None:  # type: ignore[no-untyped-def]
    with mock.patch.dict(os.environ, registry.auth_env()):
        rewrite_attachment(ref, change)


def test_tampering_fails_with_one_line(
    keys: Path, registry: RegistryServer, pushed: str, images: Path
) -> None:
    key, pub = str(keys / "cosign.key"), str(keys / "cosign.pub")
    assert cli("sign", f"{pushed}:1", "--key", key, env=env(registry)).returncode == 0
    one = _digest(f"{pushed}:1", registry)

    def verify(ref: str, public: str = pub) -> subprocess.CompletedProcess[str]:
        result = cli("verify", ref, "--key", public, env=env(registry))
        assert result.returncode == 1, result.stdout
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        return result

    # a wrong public key
    assert "does not verify with key" in verify(f"{pushed}:1", str(keys / "other.pub")).stderr
    # the tag re-pointed at another image: that digest has no signature
    assert cli("copy", f"oci:{images}:two", f"{pushed}:1", env=registry.auth_env()).returncode == 0
    two = _digest(f"{pushed}:1", registry)
    assert (
        f"no signatures: docker://{_sig_ref(pushed, two)} does not exist"
        in verify(f"{pushed}:1").stderr
    )
    # ... and image one's signature copied to it: signed for another digest
    cli("copy", f"docker://{_sig_ref(pushed, one)}", f"docker://{_sig_ref(pushed, two)}",
        env=registry.auth_env())  # fmt: skip
    assert f"signed for {one}, not {two}" in verify(f"{pushed}:1").stderr

    # the payload edited (its digest changed to two's), the signature kept
    def edit(manifest: dict, payloads: list[bytes]) -> None:  # type: ignore[type-arg]
        payloads[0] = payloads[0].replace(one.encode(), two.encode())

    _rewrite_signature(_sig_ref(pushed, two), registry, edit)
    assert "the signature does not verify" in verify(f"{pushed}:1").stderr

    # the signature annotation swapped for another payload's
    def swap(manifest: dict, payloads: list[bytes]) -> None:  # type: ignore[type-arg]
        other = json.loads(payloads[0])
        other["critical"]["image"]["docker-manifest-digest"] = two
        payloads[0] = json.dumps(other).encode()

    _rewrite_signature(_sig_ref(pushed, two), registry, swap)
    assert "the signature does not verify" in verify(f"{pushed}:1").stderr


def test_signatures_in_an_oci_layout(keys: Path, tmp_path: Path, images: Path) -> None:
    layout = tmp_path / "layout"
    assert cli("copy", f"oci:{images}:one", f"oci:{layout}:app").returncode == 0
    signed = cli("sign", f"oci:{layout}:app", "--key", str(keys / "cosign.key"),
                 env={"COSIGN_PASSWORD": PASSWORD})  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    checked = cli("verify", f"oci:{layout}:app", "--key", str(keys / "cosign.pub"), "--json")
    assert checked.returncode == 0, checked.stderr
    report = json.loads(checked.stdout)
    assert len(report["verified"]) == 1 and report["rejected"] == []
    tags = {
        m["annotations"]["org.opencontainers.image.ref.name"]
        for m in json.loads((layout / "index.json").read_text())["manifests"]
    }
    assert tags == {"app", f"{report['digest'].replace(':', '-')}.sig"}
    bad_password = cli("sign", f"oci:{layout}:app", "--key", str(keys / "cosign.key"),
                       env={"COSIGN_PASSWORD": "wrong"})  # fmt: skip
    assert bad_password.returncode == 1
    assert bad_password.stderr.strip().endswith(
        "cannot decrypt the key: wrong password (COSIGN_PASSWORD)"
    )


VECTORS = Path(__file__).parent / "vectors"


def test_a_signature_cosign_made_verifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cosign's own signature of an image (a published test vector), stored where cosign
    stores it, checks out; with another key or for another digest it does not."""
    from cnbsdk.oci.reference import parse_reference
    from cnbsdk.supply.attachments import Layer, Subject, append_layer, attachment_ref
    from cnbsdk.supply.keys import load_public_key
    from cnbsdk.supply.signatures import SIMPLE_SIGNING, verify

    vector = json.loads((VECTORS / "signature-1.json").read_text())
    digest = sha256_digest((VECTORS / "manifest.json").read_bytes())
    target = Subject(parse_reference("192.168.64.2:5000/cosign-signed-single-sample:1"), digest)
    monkeypatch.setenv("COSIGN_REPOSITORY", f"oci:{tmp_path / 'signatures'}")
    layer = Layer(base64.b64decode(vector["payload"]), SIMPLE_SIGNING, vector["annotations"])
    append_layer(attachment_ref(target, "sig"), layer)
    result = verify(target, load_public_key(VECTORS / "cosign.pub"))
    assert [v.identity for v in result.verified] == [
        "192.168.64.2:5000/cosign-signed-single-sample"
    ]
    assert result.rejected == ()
    (tmp_path / "other.pub").write_bytes(generate().public.pem())
    wrong_key = verify(target, load_public_key(tmp_path / "other.pub"))
    assert wrong_key.verified == () and "does not verify with key" in wrong_key.rejected[0]


def test_a_key_cosign_made_signs(tmp_path: Path) -> None:
    """cosign's encrypted key format (a published test vector, password "hello") is read,
    and what it signs verifies with its public key; a wrong password is one line."""
    from cnbsdk.supply.keys import SigningError, load_private_key

    key = load_private_key(VECTORS / "cosign-test.key", b"hello")
    assert key.public.verifies(key.sign(b"payload"), b"payload")
    with pytest.raises(SigningError, match="cannot decrypt the key: wrong password"):
        load_private_key(VECTORS / "cosign-test.key", b"nope")
