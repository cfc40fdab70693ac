"""Writing an image to a registry: blobs (HEAD first, mount, upload), then the manifest."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from cnbsdk.errors import RegistryError
from cnbsdk.oci.registry.client import RegistryClient, registry_error_text
from cnbsdk.oci.registry.source import make_client
from cnbsdk.oci.registry.upload import (
    UploadSettings,
    blob_exists,
    mount_blob,
    push_blob,
    push_scope,
    short,
)

if TYPE_CHECKING:
    from cnbsdk.oci.reference import ImageRef


@dataclass
class PushStats:
    """What a push did, blob by blob: for reports and for tests that count."""

    uploaded: int = 0
    bytes_uploaded: int = 0
    skipped: int = 0
    mounted: int = 0


class RegistryDestination:
    """A registry repository (and tag) that an image is pushed to.

    Blobs may be put from several threads at once (uploads in parallel are what keeps a
    registry busy); the manifest goes last.
    """

    def __init__(
        self,
        ref: ImageRef,
        *,
        client: RegistryClient | None = None,
        upload: UploadSettings | None = None,
        **options: Any,
    ) -> None:
        self.ref = ref
        self.repository = ref.repository
        self._owns_client = client is None
        self.client = make_client(ref.registry, client, options)
        self.upload = upload or UploadSettings.from_environment()
        self.stats = PushStats()
        self._known_missing: set[str] = set()
        self._sessions: dict[str, str] = {}  # digest -> upload location left by a failed mount
        self._lock = threading.Lock()

    def __enter__(self) -> RegistryDestination:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def has_blob(self, digest: str) -> bool:
        present = self.client.retrying(
            f"HEAD blob {short(digest)} in {self.repository}",
            lambda: blob_exists(self.client, self.repository, digest),
        )
        if not present:
            with self._lock:
                self._known_missing.add(digest)
        return present

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        """Upload unless present: a HEAD first, unless ``has_blob`` just said it is missing."""
        if digest not in self._known_missing and self.has_blob(digest):
            with self._lock:
                self.stats.skipped += 1
            return
        with self._lock:
            location = self._sessions.pop(digest, None)
        push_blob(
            self.client, self.repository, digest, size, stream, self.upload, location=location
        )
        with self._lock:
            self._known_missing.discard(digest)
            self.stats.uploaded += 1
            self.stats.bytes_uploaded += size

    def try_mount(self, digest: str, source_repository: str) -> bool:
        if source_repository == self.repository:
            return False
        mounted, location = mount_blob(self.client, self.repository, digest, source_repository)
        with self._lock:
            if mounted:
                self.stats.mounted += 1
                self._known_missing.discard(digest)
            elif location:
                self._sessions[digest] = location
        return mounted

    def put_manifest(self, raw: bytes, media_type: str, *, reference: str | None = None) -> str:
        """PUT the manifest under the reference's tag (or ``reference``, e.g. a digest for
        the manifests an index points at); return its digest."""
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        target = reference or self.ref.tag or self.ref.digest or "latest"
        if self.ref.digest and not reference and self.ref.digest != digest and not self.ref.tag:
            raise RegistryError(
                f"registry {self.client.registry}: manifest digest {short(digest)} differs "
                f"from the reference's {short(self.ref.digest)}"
            )
        separator = "@" if target.startswith("sha256:") else ":"
        what = f"PUT manifest {self.repository}{separator}{target}"
        response = self.client.call(
            "PUT",
            f"/v2/{self.repository}/manifests/{target}",
            scope=push_scope(self.repository),
            what=what,
            ok=(201,),
            headers={"Content-Type": media_type},
            body=raw,
        )
        response.close()
        if response.status_code == 404:
            raise RegistryError(
                f"registry {self.client.registry}: {what} failed: {registry_error_text(response)}"
            )
        returned = response.headers.get("Docker-Content-Digest", "")
        if returned and returned != digest:
            raise RegistryError(
                f"registry {self.client.registry}: {what}: the registry stored digest "
                f"{short(returned)}, expected {short(digest)}"
            )
        return returned or digest

    def commit(self) -> None:
        """Nothing to do: a registry image becomes visible when its manifest is tagged."""

    def close(self) -> None:
        for location in self._sessions.values():  # upload sessions opened by refused mounts
            with contextlib.suppress(Exception):
                self.client.send("DELETE", location, scope=push_scope(self.repository)).close()
        self._sessions.clear()
        if self._owns_client:
            self.client.close()
