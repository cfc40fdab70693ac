"""Blob uploads: cross-repository mount, monolithic (POST + PUT) and chunked (PATCH) upload.

A blob is streamed from its file, never held in memory. An upload interrupted by a dropped
connection or a 5xx is restarted from the blob's first byte in a fresh upload session, after
a ``HEAD`` shows it did not land after all — so a retry after a registry restart succeeds and
leaves nothing half-written visible.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

import requests

from cnbsdk.errors import ImageError, RegistryError
from cnbsdk.oci.registry.client import RegistryClient, TransientError, registry_error_text

CHUNK_SIZE_VARIABLE = "CNBSDK_REGISTRY_CHUNK_SIZE"
# Reads from the blob file and writes to the socket happen in pieces of this size.
_IO_SIZE = 1 << 20


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def push_scope(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def short(digest: str) -> str:
    """``sha256:0123456789ab`` — enough of a digest to recognise it in a message."""
    return digest[:19]


@dataclass(frozen=True)
class UploadSettings:
    """Blobs up to ``chunk_size`` go up in one PUT; larger ones in PATCH chunks of that size.

    64 MiB keeps each request under the body limits common in front of registries (proxies
    and load balancers often stop at 100 MB or so) while the per-request cost stays
    negligible next to the data.
    """

    chunk_size: int = 64 << 20

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> UploadSettings:
        env = os.environ if environ is None else environ
        text = env.get(CHUNK_SIZE_VARIABLE, "").strip()
        if not text:
            return cls()
        if not (text.isascii() and text.isdigit() and len(text) <= 13) or int(text) < 1:
            raise RegistryError(
                f"must be a size in bytes from 1 to 9999999999999, not {text[:40]!r}",
                file=CHUNK_SIZE_VARIABLE,
            )
        return cls(chunk_size=int(text))


class _Region:
    """The next ``length`` bytes of a stream as a request body.

    ``requests`` takes the Content-Length from ``len()``; urllib3 sends what the iterator
    yields, in large pieces, so nothing is buffered beyond one piece.
    """

    def __init__(self, stream: BinaryIO, length: int, digest: str) -> None:
        self._stream = stream
        self._length = length
        self._digest = digest

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        remaining = self._length
        while remaining:
            piece = self._stream.read(min(_IO_SIZE, remaining))
            if not piece:
                raise ImageError(
                    f"blob {short(self._digest)} ended {remaining} bytes before its size"
                )
            remaining -= len(piece)
            yield piece


def blob_exists(client: RegistryClient, repository: str, digest: str) -> bool:
    """One ``HEAD``; raises TransientError when worth trying again.

    Asked with the push scope: this runs while pushing, and one token then serves the
    whole push instead of a pull token for the HEADs and a push token for the uploads.
    """
    response = client.send("HEAD", f"/v2/{repository}/blobs/{digest}", scope=push_scope(repository))
    response.close()
    if response.status_code == 200:
        return True
    if response.status_code == 404:
        return False
    raise RegistryError(
        f"registry {client.registry}: HEAD blob {short(digest)} in {repository} failed: "
        f"HTTP {response.status_code}"
    )


def mount_blob(
    client: RegistryClient, repository: str, digest: str, source_repository: str
) -> tuple[bool, str | None]:
    """Ask the registry to link a blob from another repository; (mounted, upload location).

    201 means mounted. 202 means the registry opened an ordinary upload session instead
    (the blob is not there, or we may not read it): its location is returned for reuse.
    """
    scope = f"{push_scope(repository)} {pull_scope(source_repository)}"

    def attempt() -> tuple[bool, str | None]:
        response = client.send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scope=scope,
            params={"mount": digest, "from": source_repository},
        )
        response.close()
        if response.status_code == 201:
            return True, None
        if response.status_code == 202:
            return False, response.headers.get("Location")
        raise RegistryError(
            f"registry {client.registry}: mount of blob {short(digest)} from "
            f"{source_repository} failed: {registry_error_text(response)}"
        )

    return client.retrying(f"mount blob {short(digest)} into {repository}", attempt)


def push_blob(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int,
    stream: BinaryIO,
    settings: UploadSettings,
    *,
    location: str | None = None,
) -> None:
    """Upload one blob the destination lacks, retrying from its start when interrupted."""
    start = _position(stream)
    what = f"push blob {short(digest)} to {repository}"
    attempts = 0

    def attempt() -> None:
        nonlocal attempts, location
        attempts += 1
        if attempts > 1:
            if start is not None:
                stream.seek(start)
            if blob_exists(client, repository, digest):
                return
        session, location = location, None  # an upload session serves one attempt only
        try:
            if session is None:
                session = _start_upload(client, repository)
            if size > settings.chunk_size:
                _upload_chunks(client, repository, digest, size, stream, session, settings)
            else:
                _upload_whole(client, repository, digest, size, stream, session)
        except TransientError as error:
            if start is None:
                raise RegistryError(
                    f"registry {client.registry}: {what} failed: {error.reason} "
                    "(the source stream cannot be rewound to try again)"
                ) from None
            raise

    client.retrying(what, attempt)


def _position(stream: BinaryIO) -> int | None:
    """Where a retry must rewind to, or None for a stream that cannot be rewound."""
    seekable = getattr(stream, "seekable", None)
    try:
        return stream.tell() if seekable is not None and seekable() else None
    except (OSError, ValueError):
        return None


def _start_upload(client: RegistryClient, repository: str) -> str:
    response = client.send("POST", f"/v2/{repository}/blobs/uploads/", scope=push_scope(repository))
    response.close()
    location = response.headers.get("Location")
    if response.status_code != 202 or not location:
        raise RegistryError(
            f"registry {client.registry}: starting an upload to {repository} failed: "
            f"{registry_error_text(response)}"
        )
    return location


def _upload_whole(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int,
    stream: BinaryIO,
    location: str,
) -> None:
    body = _Region(stream, size, digest) if size else b""
    _finish_upload(client, repository, digest, location, body)


def _upload_chunks(
    client: RegistryClient,
    repository: str,
    digest: str,
    size: int,
    stream: BinaryIO,
    location: str,
    settings: UploadSettings,
) -> None:
    offset = 0
    while offset < size:
        length = min(settings.chunk_size, size - offset)
        response = client.send(
            "PATCH",
            location,
            scope=push_scope(repository),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + length - 1}",
            },
            body=_Region(stream, length, digest),
            replayable=False,
        )
        _expect(client, response, 202, f"chunk at byte {offset} of blob {short(digest)}")
        location = response.headers.get("Location") or location
        offset += length
    _finish_upload(client, repository, digest, location, None)


def _finish_upload(
    client: RegistryClient,
    repository: str,
    digest: str,
    location: str,
    body: bytes | Iterable[bytes] | None,
) -> None:
    """The closing ``PUT ?digest=``: with the whole blob as ``body``, or none after chunks."""
    response = client.send(
        "PUT",
        location,
        scope=push_scope(repository),
        params={"digest": digest},
        headers={"Content-Type": "application/octet-stream"},
        body=body,
        replayable=False,
    )
    _expect(client, response, 201, f"upload of blob {short(digest)} to {repository}")


def _expect(client: RegistryClient, response: requests.Response, status: int, what: str) -> None:
    response.close()
    if response.status_code == status:
        return
    if response.status_code == 404:
        # BLOB_UPLOAD_UNKNOWN: the session is gone (registry restarted); start over.
        raise TransientError("the upload session was lost")
    raise RegistryError(
        f"registry {client.registry}: {what} failed: {registry_error_text(response)}"
    )
