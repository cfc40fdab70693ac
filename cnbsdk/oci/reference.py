"""Image references in the transports skopeo, buildah and podman users know.

``oci:PATH[:TAG]``, ``docker-archive:PATH[:NAME:TAG]``,
``docker://HOST[:PORT]/REPO[:TAG|@DIGEST]`` (the prefix may be dropped when the first
part holds a '.' or ':' or is ``localhost``) and a bare ``NAME[:TAG]`` for the local store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from cnbsdk.errors import ImageError

OCI = "oci"
DOCKER_ARCHIVE = "docker-archive"
DOCKER = "docker"
STORE = "store"
TRANSPORTS = (OCI, DOCKER_ARCHIVE, DOCKER, STORE)

# distribution/reference grammar: path components of lowercase alphanumerics joined by
# '.', '_', '__' or runs of '-'.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$"
)
DEFAULT_TAG = "latest"


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; ``str()`` gives its canonical text form."""

    transport: str
    path: str = ""
    registry: str = ""
    repository: str = ""
    tag: str = ""
    digest: str = ""

    @property
    def tag_or_default(self) -> str:
        """The tag, or ``latest`` when none was given."""
        return self.tag or DEFAULT_TAG

    @property
    def name_with_tag(self) -> str:
        """``[registry/]repository:tag`` (tag defaulting to latest); '' without a name."""
        if not self.repository:
            return ""
        name = f"{self.registry}/{self.repository}" if self.registry else self.repository
        return f"{name}:{self.tag_or_default}"

    @property
    def name(self) -> str:
        """``[registry/]repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        if self.transport == OCI:
            return f"oci:{self.path}:{self.tag}" if self.tag else f"oci:{self.path}"
        if self.transport == DOCKER_ARCHIVE:
            if self.repository:
                return f"docker-archive:{self.path}:{self.name_with_tag}"
            return f"docker-archive:{self.path}"
        text = self.name
        if self.tag or not self.digest:
            text += f":{self.tag_or_default}"
        if self.digest:
            text += f"@{self.digest}"
        return f"docker://{text}" if self.transport == DOCKER else text


def _fail(text: str, why: str) -> ImageError:
    return ImageError(f"invalid image reference {text!r}: {why}")


def _split_name(text: str, rest: str) -> tuple[str, str, str]:
    """Split ``NAME[:TAG][@DIGEST]`` into name, tag and digest (all validated but the name)."""
    digest = ""
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise _fail(text, "the digest must be sha256:<64 lowercase hex digits>")
    tag = ""
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise _fail(text, f"invalid tag {tag!r} (letters, digits, '_', '.', '-'; at most 128)")
    return rest, tag, digest


def _check_repository(text: str, repository: str) -> None:
    if not repository:
        raise _fail(text, "the image name is empty")
    if len(repository) > 255 or not _REPOSITORY.match(repository):
        raise _fail(
            text,
            f"invalid name {repository!r} (lowercase letters, digits, '.', '_', '-', '/')",
        )


def valid_registry_host(text: str) -> bool:
    """True for ``HOST[:PORT]`` (a DNS name, an IPv4 or a bracketed IPv6 address)."""
    return bool(_HOST.match(text))


def _is_registry_host(part: str) -> bool:
    return "." in part or ":" in part or part == "localhost"


def _parse_registry(text: str, rest: str) -> ImageRef:
    if "/" not in rest:
        raise _fail(text, "a registry reference needs HOST[:PORT]/REPOSITORY")
    host, remainder = rest.split("/", 1)
    if not _is_registry_host(host):
        raise _fail(
            text,
            "a registry reference must start with a host (with a '.' or ':', or localhost)",
        )
    if not _HOST.match(host):
        raise _fail(text, f"invalid registry host {host!r}")
    repository, tag, digest = _split_name(text, remainder)
    _check_repository(text, repository)
    return ImageRef(DOCKER, registry=host, repository=repository, tag=tag, digest=digest)


def _parse_archive_name(text: str, rest: str) -> tuple[str, str, str]:
    """The optional ``[HOST/]NAME:TAG`` after a docker-archive path."""
    registry = ""
    first = rest.split("/", 1)[0]
    if "/" in rest and _is_registry_host(first):
        registry, rest = rest.split("/", 1)
        if not _HOST.match(registry):
            raise _fail(text, f"invalid registry host {registry!r}")
    repository, tag, digest = _split_name(text, rest)
    if digest:
        raise _fail(text, "a docker-archive name cannot carry a digest")
    _check_repository(text, repository)
    return registry, repository, tag


def parse_reference(text: str) -> ImageRef:
    """Parse an image reference; raise a one-line ImageError saying what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ImageError("invalid image reference '': it is empty")
    if text != text.strip() or any(c.isspace() for c in text):
        raise _fail(text, "it contains white space")
    if text.startswith("oci:"):
        body = text[len("oci:") :]
        path, _, tag = body.partition(":")
        if not path:
            raise _fail(text, "expected oci:PATH[:TAG]")
        if tag and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._:@+/-]*$", tag):
            raise _fail(text, f"invalid tag {tag!r}")
        return ImageRef(OCI, path=path, tag=tag)
    if text.startswith("docker-archive:"):
        body = text[len("docker-archive:") :]
        path, _, name = body.partition(":")
        if not path:
            raise _fail(text, "expected docker-archive:PATH[:NAME:TAG]")
        if not name:
            return ImageRef(DOCKER_ARCHIVE, path=path)
        registry, repository, tag = _parse_archive_name(text, name)
        return ImageRef(
            DOCKER_ARCHIVE, path=path, registry=registry, repository=repository, tag=tag
        )
    if text.startswith("docker://"):
        return _parse_registry(text, text[len("docker://") :])
    if "://" in text:
        raise _fail(text, "unknown transport (use oci:, docker-archive:, docker:// or NAME[:TAG])")
    scheme = text.split(":", 1)[0]
    if (
        ":" in text
        and "/" not in scheme
        and scheme in {"dir", "containers-storage", "docker-daemon", "oci-archive"}
    ):
        raise _fail(text, f"the {scheme}: transport is not supported")
    first = text.split("/", 1)[0]
    if "/" in text and _is_registry_host(first):
        return _parse_registry(text, text)
    repository, tag, digest = _split_name(text, text)
    _check_repository(text, repository)
    return ImageRef(STORE, repository=repository, tag=tag, digest=digest)


def as_reference(ref: str | ImageRef) -> ImageRef:
    """Accept either a parsed reference or its text."""
    return ref if isinstance(ref, ImageRef) else parse_reference(ref)


def check_references(pairs: Iterable[tuple[str, str]], *, file: str) -> None:
    """Refuse the first of ``(field, reference)`` that does not parse, naming file and field:
    a spec file's image references are checked where the file is read, not when used."""
    for field, text in pairs:
        try:
            parse_reference(text)
        except ImageError as error:
            raise ImageError(error.message, file=file, field=field) from None
