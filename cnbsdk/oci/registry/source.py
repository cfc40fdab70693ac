"""Reading an image from a registry: manifests by tag or digest, blobs streamed and verified."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import requests
import urllib3.exceptions

from cnbsdk.errors import ImageError, RegistryError
from cnbsdk.oci.media_types import DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from cnbsdk.oci.registry.client import (
    RegistryClient,
    TransientError,
    describe_connection_error,
    registry_error_text,
)
from cnbsdk.oci.registry.upload import pull_scope, short

if TYPE_CHECKING:
    from cnbsdk.oci.reference import ImageRef

MANIFEST_MEDIA_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
# The distribution registry refuses manifests above 4 MiB; so do we.
MAX_MANIFEST_SIZE = 4 << 20


def make_client(
    registry: str, client: RegistryClient | None, options: dict[str, Any]
) -> RegistryClient:
    """The given client, or a new one for ``registry`` built from ``options``."""
    return client if client is not None else RegistryClient(registry, **options)


class RegistrySource:
    """An image in a registry repository, read through the distribution v2 API."""

    def __init__(self, ref: ImageRef, *, client: RegistryClient | None = None, **options: Any):
        self.ref = ref
        self.repository = ref.repository
        self._owns_client = client is None
        self.client = make_client(ref.registry, client, options)

    def __enter__(self) -> RegistrySource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def reference(self) -> str:
        """What the reference points at: its digest when pinned, else its tag."""
        return self.ref.digest or self.ref.tag or "latest"

    def get_manifest(self, digest: str | None = None) -> tuple[bytes, str]:
        reference = digest or self.reference
        name = f"{self.repository}{'@' if ':' in reference else ':'}{reference}"
        what = f"GET manifest {name}"

        def attempt() -> tuple[bytes, str]:
            response = self.client.send(
                "GET",
                f"/v2/{self.repository}/manifests/{reference}",
                scope=pull_scope(self.repository),
                headers={"Accept": ", ".join(MANIFEST_MEDIA_TYPES)},
                stream=True,
            )
            with response:
                if response.status_code == 404:
                    raise ImageError(f"registry {self.client.registry}: manifest {name} not found")
                if response.status_code != 200:
                    raise RegistryError(
                        f"registry {self.client.registry}: {what} failed: "
                        f"{registry_error_text(response)}"
                    )
                try:
                    raw = response.raw.read(MAX_MANIFEST_SIZE + 1)
                except (urllib3.exceptions.HTTPError, OSError) as error:
                    raise TransientError(describe_connection_error(error)) from None
                content_type = response.headers.get("Content-Type", "")
            if len(raw) > MAX_MANIFEST_SIZE:
                raise ImageError(f"registry {self.client.registry}: manifest {name} exceeds 4 MiB")
            return raw, content_type

        raw, content_type = self.client.retrying(what, attempt)
        if ":" in reference:
            actual = "sha256:" + hashlib.sha256(raw).hexdigest()
            if reference.startswith("sha256:") and actual != reference:
                raise ImageError(
                    f"registry {self.client.registry}: manifest {name} does not match its "
                    f"digest (got {short(actual)})"
                )
        return raw, _media_type(raw, content_type, name)

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]:
        what = f"GET blob {short(digest)} from {self.repository}"

        def fetch(offset: int) -> requests.Response:
            headers = {"Range": f"bytes={offset}-"} if offset else {}
            response = self.client.send(
                "GET",
                f"/v2/{self.repository}/blobs/{digest}",
                scope=pull_scope(self.repository),
                headers=headers,
                stream=True,
            )
            expected = 206 if offset else 200
            if response.status_code == expected:
                return response
            response.close()
            if response.status_code == 404:
                raise ImageError(
                    f"registry {self.client.registry}: blob {short(digest)} not found in "
                    f"{self.repository}"
                )
            raise RegistryError(
                f"registry {self.client.registry}: {what} failed: {registry_error_text(response)}"
            )

        reader = _VerifiedBlob(self.client, digest, what, fetch)
        try:
            yield cast(BinaryIO, reader)
        finally:
            reader.close()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def _media_type(raw: bytes, content_type: str, name: str) -> str:
    media_type = content_type.split(";", 1)[0].strip()
    if media_type in MANIFEST_MEDIA_TYPES:
        return media_type
    if "manifest.v1" in media_type:
        raise ImageError(f"{name}: Docker schema 1 manifests are not supported")
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise ImageError(f"{name}: the manifest is not JSON") from None
    declared = document.get("mediaType") if isinstance(document, dict) else None
    if isinstance(declared, str) and declared:
        return declared
    if isinstance(document, dict) and "manifests" in document:
        return OCI_INDEX
    return OCI_MANIFEST


class _VerifiedBlob(io.RawIOBase):
    """A blob streamed from the registry, hashed as it is read and checked at its end.

    A connection dropped part-way is picked up with a ``Range`` request from the byte
    reached, up to the client's retry budget.
    """

    def __init__(
        self,
        client: RegistryClient,
        digest: str,
        what: str,
        fetch: Callable[[int], requests.Response],
    ) -> None:
        super().__init__()
        self._client = client
        self._digest = digest
        self._what = what
        self._fetch = fetch
        self._hasher = hashlib.sha256()
        self._offset = 0
        self._done = False
        self._response: requests.Response | None = client.retrying(what, lambda: fetch(0))
        length = self._response.headers.get("Content-Length", "")
        digits = length.isascii() and length.isdigit() and len(length) <= 19
        self._size = int(length) if digits else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        if self._done or size == 0:
            return b""
        data = self._client.retrying(self._what, lambda: self._read_some(size))
        if data:
            self._hasher.update(data)
            self._offset += len(data)
            return data
        self._finish()
        return b""

    def _read_some(self, size: int) -> bytes:
        if self._response is None:
            self._response = self._fetch(self._offset)
        try:
            return self._response.raw.read(size)
        except (urllib3.exceptions.HTTPError, OSError, requests.RequestException) as error:
            self._response.close()
            self._response = None
            raise TransientError(describe_connection_error(error)) from None

    def _finish(self) -> None:
        self._done = True
        if self._size is not None and self._offset != self._size:
            raise ImageError(f"{self._what}: got {self._offset} of {self._size} bytes")
        actual = "sha256:" + self._hasher.hexdigest()
        if self._digest.startswith("sha256:") and actual != self._digest:
            raise ImageError(
                f"registry {self._client.registry}: blob {short(self._digest)} does not match "
                f"its digest (got {short(actual)})"
            )

    def close(self) -> None:
        if not self.closed and self._response is not None:
            self._response.close()
        super().close()
