"""OCI image layouts (``oci-layout``, ``index.json``, ``blobs/sha256/``) on disk.

Several images share one layout, each tagged with the
``org.opencontainers.image.ref.name`` annotation in ``index.json``. Every blob is written to
a temporary file, verified and renamed into place; ``index.json`` is replaced atomically
under a lock on the layout directory, so concurrent writers never lose each other's tags.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import (
    CHUNK,
    Descriptor,
    HashingWriter,
    check_digest,
    digest_hex,
    sha256_digest,
    verify,
)
from cnbsdk.oci.models import Index, Manifest, detect_media_type

REF_NAME = "org.opencontainers.image.ref.name"
_TEMP_PREFIX = ".blob-"
_TEMP_SUFFIX = ".tmp"
# A temp blob younger than this may be one a writer has made but not locked yet.
_SWEEP_AGE = 10.0
_LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'


class OciLayout:
    """One OCI image layout directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # -- the layout itself ------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "oci-layout").is_file()

    def check(self) -> None:
        """Raise ImageError unless this is an OCI layout we can read."""
        marker = self.path / "oci-layout"
        if not marker.is_file():
            raise ImageError("not an OCI image layout (no oci-layout file)", file=str(self.path))
        try:
            version = json.loads(marker.read_bytes()).get("imageLayoutVersion")
        except (ValueError, AttributeError, RecursionError):
            raise ImageError("oci-layout is not valid JSON", file=str(marker)) from None
        if version != "1.0.0":
            raise ImageError(f"unsupported imageLayoutVersion {version!r}", file=str(marker))

    def create(self) -> None:
        """Create an empty layout (no-op when one is there)."""
        if self.exists():
            self.check()
            return
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.path / "index.json").exists():
            _write_atomic(self.path / "index.json", _dump_index({"manifests": []}))
        _write_atomic(self.path / "oci-layout", _LAYOUT_FILE)

    # -- blobs ------------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / digest_hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]:
        try:
            stream = open(self.blob_path(digest), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise ImageError(f"blob {digest} is missing", file=str(self.path)) from None
        with stream:
            yield stream

    def link_blob(self, source: OciLayout, digest: str, size: int) -> bool:
        """Hard-link ``source``'s blob ``digest`` here instead of copying it. A blob file is
        never changed in place (every writer renames a verified file in), so two layouts can
        share it. False, with nothing done, when it cannot be linked (another filesystem, no
        regular file of ``size`` bytes there): the caller copies it then."""
        origin, target = source.blob_path(digest), self.blob_path(digest)
        try:
            info = origin.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_size != size:
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(origin, target)
        except FileExistsError:
            return True  # another writer put it there meanwhile
        except OSError:
            return False
        return True

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        """Stream a blob in, verify digest and size, then rename it into place."""
        check_digest(digest)
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._sweep_once()
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.path)
        try:
            # Held while the blob is written: a sweep by a later writer knows it is live.
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(fd, "wb") as out:
                writer = HashingWriter(out)
                while chunk := stream.read(CHUNK):
                    writer.write(chunk)
            verify(digest, size, writer.digest, writer.size, what=f"blob {digest}")
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _sweep_once(self) -> None:
        """Remove the temporary blobs of writers that were killed (``kill -9`` mid-export):
        a temp file nobody holds a lock on is a dead writer's. Done on the first write of
        this layout object, so the next run to write to the layout or store cleans up."""
        if getattr(self, "_swept", False):
            return
        self._swept = True
        for stale in self.path.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            try:
                fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                if time.time() - os.fstat(fd).st_mtime < _SWEEP_AGE:
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live writer
            else:
                stale.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def put_bytes(self, data: bytes) -> str:
        digest = sha256_digest(data)
        if not self.has_blob(digest):
            import io

            self.put_blob(digest, len(data), io.BytesIO(data))
        return digest

    def read_blob(self, digest: str, limit: int = 64 << 20) -> bytes:
        with self.open_blob(digest) as stream:
            data = stream.read(limit + 1)
        if len(data) > limit:
            raise ImageError(f"blob {digest} is larger than {limit} bytes", file=str(self.path))
        if sha256_digest(data) != digest:
            raise ImageError(f"blob {digest} does not match its digest", file=str(self.path))
        return data

    # -- index.json -------------------------------------------------------------------
    def read_index(self) -> dict[str, Any]:
        self.check()
        path = self.path / "index.json"
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ImageError("index.json is missing", file=str(path)) from None
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise ImageError(f"index.json is not valid JSON: {error}", file=str(path)) from None
        if not isinstance(data, dict) or not isinstance(data.get("manifests", []), list):
            raise ImageError("index.json must be an object with a manifests list", file=str(path))
        return data

    def entries(self) -> list[Descriptor]:
        """The index's manifest descriptors, in file order."""
        data = self.read_index()
        return [
            Descriptor.from_json(m, file=str(self.path / "index.json"), where=f"manifests[{i}]")
            for i, m in enumerate(data.get("manifests") or [])
        ]

    def tags(self) -> list[tuple[str, Descriptor]]:
        """(ref name, descriptor) for every tagged entry."""
        return [(d.annotations[REF_NAME], d) for d in self.entries() if REF_NAME in d.annotations]

    def find(self, tag: str) -> Descriptor | None:
        for name, descriptor in self.tags():
            if name == tag:
                return descriptor
        return None

    def resolve(self, tag: str = "", digest: str = "") -> Descriptor:
        """The entry for a tag or digest; with neither, the only entry there is."""
        entries = self.entries()
        if digest:
            for d in entries:
                if d.digest == digest:
                    return d
            if self.has_blob(digest):
                return Descriptor("", digest, self.blob_path(digest).stat().st_size)
            raise ImageError(f"no image with digest {digest}", file=str(self.path))
        if tag:
            found = self.find(tag)
            if found is None:
                known = ", ".join(sorted(name for name, _ in self.tags())) or "none"
                raise ImageError(f"no image tagged {tag!r} (tags: {known})", file=str(self.path))
            return found
        if len(entries) == 1:
            return entries[0]
        if not entries:
            raise ImageError("the layout holds no image", file=str(self.path))
        known = ", ".join(sorted(name for name, _ in self.tags())) or "untagged only"
        raise ImageError(
            f"the layout holds {len(entries)} images: give a tag (tags: {known})",
            file=str(self.path),
        )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """An exclusive lock on the layout for read-modify-write of index.json."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def set_tag(self, tag: str, descriptor: Descriptor) -> None:
        """Point ``tag`` at ``descriptor`` (an untagged entry when tag is ''), atomically."""
        annotations = dict(descriptor.annotations)
        if tag:
            annotations[REF_NAME] = tag
        else:
            annotations.pop(REF_NAME, None)
        entry = Descriptor(
            descriptor.media_type,
            descriptor.digest,
            descriptor.size,
            annotations,
            descriptor.platform,
        ).to_json()
        with self.locked():
            data = self.read_index()
            kept = [
                m
                for m in data.get("manifests") or []
                if (m.get("annotations") or {}).get(REF_NAME, "") != tag
            ]
            data["manifests"] = [*kept, entry]
            _write_atomic(self.path / "index.json", _dump_index(data))

    def remove_tag(self, tag: str) -> Descriptor:
        with self.locked():
            data = self.read_index()
            manifests = data.get("manifests") or []
            kept = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) != tag]
            if len(kept) == len(manifests):
                raise ImageError(f"no image tagged {tag!r}", file=str(self.path))
            removed = next(m for m in manifests if m not in kept)
            data["manifests"] = kept
            _write_atomic(self.path / "index.json", _dump_index(data))
        return Descriptor.from_json(removed)

    def manifest_of(self, descriptor: Descriptor) -> tuple[bytes, str]:
        raw = self.read_blob(descriptor.digest)
        return raw, detect_media_type(raw, descriptor.media_type)

    def referenced_blobs(self) -> set[str]:
        """Every blob reachable from index.json (indexes, manifests, configs, layers)."""
        seen: set[str] = set()
        todo = [d.digest for d in self.entries()]
        while todo:
            digest = todo.pop()
            if digest in seen:
                continue
            seen.add(digest)
            if not self.has_blob(digest):
                continue
            raw = self.read_blob(digest)
            kind = detect_media_type(raw)
            if mt.is_index(kind):
                todo.extend(d.digest for d in Index.from_json(raw, kind).manifests)
            elif mt.is_manifest(kind):
                manifest = Manifest.from_json(raw, kind)
                seen.add(manifest.config.digest)
                seen.update(d.digest for d in manifest.layers)
        return seen

    def garbage_collect(self) -> tuple[int, int]:
        """Delete blobs nothing references; return (count, bytes) removed."""
        count = size = 0
        with self.locked():
            keep = self.referenced_blobs()
            blobs = self.path / "blobs" / "sha256"
            for blob in blobs.iterdir() if blobs.is_dir() else ():
                if f"sha256:{blob.name}" not in keep:
                    size += blob.stat().st_size
                    count += 1
                    blob.unlink()
        return count, size


def _dump_index(data: dict[str, Any]) -> bytes:
    out = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX}
    out.update({k: v for k, v in data.items() if k not in out})
    return json.dumps(out, separators=(",", ":")).encode("utf-8")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class OciLayoutSource:
    """Reads one image (by tag or digest) from a layout."""

    def __init__(self, path: str | os.PathLike[str], tag: str = "", digest: str = "") -> None:
        self.layout = OciLayout(path)
        self.layout.check()
        self.tag = tag
        self.digest = digest
        self.repository = ""

    def get_manifest(self, digest: str | None = None) -> tuple[bytes, str]:
        if digest is None:
            descriptor = self.layout.resolve(self.tag, self.digest)
        else:
            descriptor = Descriptor("", check_digest(digest), 0)
        return self.layout.manifest_of(descriptor)

    def open_blob(self, digest: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.layout.open_blob(digest)

    def close(self) -> None:
        pass

    def __enter__(self) -> OciLayoutSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OciLayoutDestination:
    """Writes one image into a layout; the tag moves to it on ``commit``."""

    def __init__(self, path: str | os.PathLike[str], tag: str = "") -> None:
        self.layout = OciLayout(path)
        self.tag = tag
        self._created = not self.layout.path.exists()
        self.layout.create()
        self._pending: Descriptor | None = None
        self._committed = False

    def has_blob(self, digest: str) -> bool:
        return self.layout.has_blob(digest)

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        self.layout.put_blob(digest, size, stream)

    def link_blob(self, source: OciLayout, digest: str, size: int) -> bool:
        return self.layout.link_blob(source, digest, size)

    def try_mount(self, digest: str, source_repository: str) -> bool:
        return False

    def put_manifest(self, raw: bytes, media_type: str) -> str:
        digest = self.layout.put_bytes(raw)
        self._pending = Descriptor(media_type, digest, len(raw))
        return digest

    def commit(self) -> None:
        if self._pending is not None and not self._committed:
            self.layout.set_tag(self.tag, self._pending)
        self._committed = True

    def close(self) -> None:
        if not self._committed and self._created:
            shutil.rmtree(self.layout.path, ignore_errors=True)

    def __enter__(self) -> OciLayoutDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
