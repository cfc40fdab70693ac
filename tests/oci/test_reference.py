"""Image references in every transport, and one-line errors for bad ones."""

from __future__ import annotations

import pytest

from cnbsdk.errors import ImageError
from cnbsdk.oci.reference import ImageRef, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oci:/tmp/layout", ImageRef("oci", path="/tmp/layout")),
        ("oci:/tmp/layout:v1.2", ImageRef("oci", path="/tmp/layout", tag="v1.2")),
        ("oci:rel/dir:app:1", ImageRef("oci", path="rel/dir", tag="app:1")),
        ("docker-archive:/a.tar", ImageRef("docker-archive", path="/a.tar")),
        (
            "docker-archive:/a.tar:app:1",
            ImageRef("docker-archive", path="/a.tar", repository="app", tag="1"),
        ),
        (
            "docker-archive:/a.tar:localhost:5000/team/app:1",
            ImageRef(
                "docker-archive",
                path="/a.tar",
                registry="localhost:5000",
                repository="team/app",
                tag="1",
            ),
        ),
        (
            "docker://localhost:5000/team/app:2",
            ImageRef("docker", registry="localhost:5000", repository="team/app", tag="2"),
        ),
        (
            "127.0.0.1:5000/app@" + DIGEST,
            ImageRef("docker", registry="127.0.0.1:5000", repository="app", digest=DIGEST),
        ),
        ("registry.test/app", ImageRef("docker", registry="registry.test", repository="app")),
        ("localhost/app:1", ImageRef("docker", registry="localhost", repository="app", tag="1")),
        ("app", ImageRef("store", repository="app")),
        ("cnbsdk/builder:0.1.0", ImageRef("store", repository="cnbsdk/builder", tag="0.1.0")),
    ],
)
def test_references_parse_per_transport(text: str, expected: ImageRef) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("app", "app:latest"),
        ("registry.test/app", "docker://registry.test/app:latest"),
        ("docker://localhost:5000/a@" + DIGEST, "docker://localhost:5000/a@" + DIGEST),
        ("oci:/x:t", "oci:/x:t"),
        ("docker-archive:/a.tar:app", "docker-archive:/a.tar:app:latest"),
    ],
)
def test_canonical_text_round_trips(text: str, canonical: str) -> None:
    assert str(parse_reference(text)) == canonical
    assert parse_reference(canonical) == parse_reference(str(parse_reference(text)))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "empty"),
        ("App", "invalid name 'App'"),
        ("app:", "invalid tag"),
        ("app:bad/tag", "invalid registry host"),
        ("app@sha256:1234", "digest"),
        ("docker://app", "HOST[:PORT]/REPOSITORY"),
        ("docker://noport/app", "must start with a host"),
        ("ftp://host/app", "unknown transport"),
        ("oci:", "oci:PATH"),
        ("docker-archive:", "docker-archive:PATH"),
        ("docker-archive:/a.tar:app@" + DIGEST, "cannot carry a digest"),
        ("dir:/tmp/x", "not supported"),
        ("a pp", "white space"),
        ("x" * 300, "invalid name"),
    ],
)
def test_bad_references_fail_on_one_line(text: str, says: str) -> None:
    with pytest.raises(ImageError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    assert message.startswith("invalid image reference")
