"""The docker-archive format ``docker save`` writes and ``docker load`` reads.

A tar holding ``manifest.json`` (``[{"Config", "RepoTags", "Layers"}]``), the config JSON and
one uncompressed tar per layer. Reading synthesises a Docker schema 2 manifest whose layer
digests are the diffIDs, as skopeo does; writing stores layers uncompressed (``docker load``
needs them so) and renames the finished archive into place, so a reader never sees a part.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import posixpath
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import CHUNK, Descriptor, HashingWriter, check_digest, sha256_digest, verify
from cnbsdk.oci.layer_tar import NORMALIZED_MTIME
from cnbsdk.oci.models import ImageConfig, Manifest, detect_media_type
from cnbsdk.oci.reference import ImageRef

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class _Member:
    offset: int
    size: int


class _BoundedReader:
    """Reads ``size`` bytes of a file from ``offset`` on."""

    def __init__(self, stream: BinaryIO, offset: int, size: int) -> None:
        self.stream = stream
        self.remaining = size
        stream.seek(offset)

    def read(self, n: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        n = self.remaining if n is None or n < 0 else min(n, self.remaining)
        data = self.stream.read(n)
        self.remaining -= len(data)
        return data


class DockerArchiveSource:
    """Reads one image from a docker-archive (by ``NAME:TAG`` when it holds several)."""

    def __init__(self, path: str | os.PathLike[str], ref: ImageRef | None = None) -> None:
        self.path = Path(path)
        self.repository = ""
        self._tmp: Path | None = None
        try:
            self._load(ref)
        except BaseException:
            self.close()  # a gunzipped copy of the archive must not outlive a failed open
            raise

    def _load(self, ref: ImageRef | None) -> None:
        self._archive = self._plain_tar(self.path)
        self._members = self._index(self._archive)
        entry = self._select(self._load_manifest(), ref)
        config_name = self._member_name(entry.get("Config"), "Config")
        self._config = self._read_member(config_name)
        config = ImageConfig.from_json(self._config)
        layer_names = entry.get("Layers") or []
        if not isinstance(layer_names, list):
            raise ImageError("Layers must be a list", file=str(self.path), field="manifest.json")
        if len(layer_names) != len(config.diff_ids):
            raise ImageError(
                f"{len(layer_names)} layers but {len(config.diff_ids)} diff_ids in the config",
                file=str(self.path),
            )
        self._blobs: dict[str, _Member] = {}
        config_digest = sha256_digest(self._config)
        self._blobs[config_digest] = self._members[config_name]
        layers = []
        for i, name in enumerate(layer_names):
            member_name = self._member_name(name, f"Layers[{i}]")
            member = self._members[member_name]
            head = self._peek(member)
            if head.startswith(_GZIP_MAGIC):
                digest = self._hash_member(member)
                media_type = mt.DOCKER_LAYER_GZIP
            else:
                digest = check_digest(config.diff_ids[i], field_name=f"rootfs.diff_ids[{i}]")
                media_type = mt.DOCKER_LAYER
            self._blobs[digest] = member
            layers.append(Descriptor(media_type, digest, member.size))
        self.manifest = Manifest(
            config=Descriptor(mt.DOCKER_CONFIG, config_digest, len(self._config)),
            layers=tuple(layers),
            media_type=mt.DOCKER_MANIFEST,
        )
        self._raw_manifest = self.manifest.to_json()

    # -- reading the archive ----------------------------------------------------------
    def _plain_tar(self, path: Path) -> Path:
        try:
            with open(path, "rb") as stream:
                head = stream.read(2)
        except FileNotFoundError:
            raise ImageError("docker-archive not found", file=str(path)) from None
        if head != _GZIP_MAGIC:
            return path
        # A gzipped archive (docker save | gzip): unpack it once to a temporary tar.
        fd, tmp = tempfile.mkstemp(prefix="cnbsdk-docker-archive-", suffix=".tar")
        self._tmp = Path(tmp)
        try:
            with os.fdopen(fd, "wb") as out, gzip.open(path, "rb") as stream:
                shutil.copyfileobj(stream, out, CHUNK)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            raise ImageError(
                f"not a valid gzipped docker-archive: {error}", file=str(path)
            ) from None
        return self._tmp

    def _index(self, archive: Path) -> dict[str, _Member]:
        members: dict[str, _Member] = {}
        links: dict[str, str] = {}
        try:
            with tarfile.open(archive, "r:") as tar:
                for info in tar:
                    name = posixpath.normpath(info.name.lstrip("/"))
                    if info.isfile():
                        members[name] = _Member(info.offset_data, info.size)
                    elif info.issym() or info.islnk():
                        base = posixpath.dirname(name) if info.issym() else ""
                        links[name] = posixpath.normpath(posixpath.join(base, info.linkname))
        except tarfile.TarError as error:
            raise ImageError(f"not a docker-archive tar: {error}", file=str(self.path)) from None
        for name, target in links.items():
            for _ in range(8):
                if target in members:
                    members[name] = members[target]
                    break
                target = links.get(target, "")
        return members

    def _read_member(self, name: str, limit: int = 64 << 20) -> bytes:
        member = self._members[name]
        if member.size > limit:
            raise ImageError(f"{name} is too large", file=str(self.path))
        with open(self._archive, "rb") as stream:
            stream.seek(member.offset)
            return stream.read(member.size)

    def _member_name(self, name: Any, field: str) -> str:
        if not isinstance(name, str) or not name:
            raise ImageError(f"{field} must be a file name", file=str(self.path), field=field)
        normal = posixpath.normpath(name.lstrip("/"))
        if normal not in self._members:
            raise ImageError(f"{name} is missing from the archive", file=str(self.path))
        return normal

    def _load_manifest(self) -> list[dict[str, Any]]:
        if "manifest.json" not in self._members:
            raise ImageError("not a docker-archive (no manifest.json)", file=str(self.path))
        try:
            entries = json.loads(self._read_member("manifest.json"))
        except (ValueError, RecursionError) as error:
            raise ImageError(
                f"manifest.json is not valid JSON: {error}", file=str(self.path)
            ) from None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ImageError("manifest.json must be a list of objects", file=str(self.path))
        if not entries:
            raise ImageError("the archive holds no image", file=str(self.path))
        return entries

    def _select(self, entries: list[dict[str, Any]], ref: ImageRef | None) -> dict[str, Any]:
        if ref is None or not ref.repository:
            if len(entries) > 1:
                raise ImageError(
                    f"the archive holds {len(entries)} images: give NAME:TAG",
                    file=str(self.path),
                )
            return entries[0]
        wanted = ref.name_with_tag
        for entry in entries:
            tags = entry.get("RepoTags") or []
            if wanted in tags or (not ref.registry and wanted in map(_without_host, tags)):
                return entry
        known = ", ".join(t for e in entries for t in e.get("RepoTags") or []) or "none"
        raise ImageError(f"no image {wanted} in the archive (tags: {known})", file=str(self.path))

    def _peek(self, member: _Member) -> bytes:
        with open(self._archive, "rb") as stream:
            stream.seek(member.offset)
            return stream.read(min(2, member.size))

    def _hash_member(self, member: _Member) -> str:
        digest = hashlib.sha256()
        with open(self._archive, "rb") as stream:
            reader = _BoundedReader(stream, member.offset, member.size)
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()

    # -- ImageSource ------------------------------------------------------------------
    @property
    def config_bytes(self) -> bytes:
        return self._config

    def get_manifest(self, digest: str | None = None) -> tuple[bytes, str]:
        if digest is not None and digest != sha256_digest(self._raw_manifest):
            raise ImageError(f"no manifest {digest} in the archive", file=str(self.path))
        return self._raw_manifest, mt.DOCKER_MANIFEST

    @contextlib.contextmanager
    def open_blob(self, digest: str) -> Iterator[BinaryIO]:
        member = self._blobs.get(digest)
        if member is None:
            raise ImageError(f"blob {digest} is not in the archive", file=str(self.path))
        with open(self._archive, "rb") as stream:
            yield _BoundedReader(stream, member.offset, member.size)  # type: ignore[misc]

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None

    def __enter__(self) -> DockerArchiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _without_host(tag: str) -> str:
    """``host/library/name:tag`` -> ``name:tag``: other tools write fully qualified names,
    adding their default registry host (and ``library/``) to short ones."""
    first, _, rest = tag.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest.removeprefix("library/")
    return tag


@dataclass(frozen=True)
class _StoredBlob:
    path: Path
    diff_id: str  # sha256 of the uncompressed content
    size: int  # uncompressed size


class DockerArchiveDestination:
    """Collects one image's blobs, then writes the archive on ``commit``."""

    def __init__(self, path: str | os.PathLike[str], ref: ImageRef | None = None) -> None:
        self.path = Path(path)
        self.ref = ref
        parent = self.path.parent
        if not parent.is_dir():
            raise ImageError("directory does not exist", file=str(parent))
        self._work = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=parent))
        self._blobs: dict[str, _StoredBlob] = {}
        self._manifest: tuple[bytes, str] | None = None
        self._committed = False

    def has_blob(self, digest: str) -> bool:
        return digest in self._blobs

    def try_mount(self, digest: str, source_repository: str) -> bool:
        return False

    def put_blob(self, digest: str, size: int, stream: BinaryIO) -> None:
        """Store a blob, decompressing gzip layers on the way (one pass, both hashes)."""
        check_digest(digest)
        target = self._work / digest.split(":", 1)[1]
        blob = HashingWriter()
        first = stream.read(CHUNK)
        with open(target, "wb") as out:
            plain = HashingWriter(out)
            inflater = zlib.decompressobj(31) if first.startswith(_GZIP_MAGIC) else None
            chunk = first
            try:
                while chunk:
                    blob.write(chunk)
                    if inflater is None:
                        plain.write(chunk)
                    else:
                        plain.write(inflater.decompress(chunk))
                        while inflater.unused_data:  # concatenated gzip members
                            rest = inflater.unused_data
                            inflater = zlib.decompressobj(31)
                            plain.write(inflater.decompress(rest))
                    chunk = stream.read(CHUNK)
                if inflater is not None:
                    plain.write(inflater.flush())
            except zlib.error as error:
                raise ImageError(f"blob {digest} is not valid gzip data ({error})") from None
        verify(digest, size, blob.digest, blob.size, what=f"blob {digest}")
        self._blobs[digest] = _StoredBlob(target, plain.digest, plain.size)

    def put_manifest(self, raw: bytes, media_type: str) -> str:
        kind = detect_media_type(raw, media_type)
        if not mt.is_manifest(kind):
            raise ImageError(
                "a docker-archive holds a single image, not an index", file=str(self.path)
            )
        self._manifest = (raw, kind)
        return sha256_digest(raw)

    def commit(self) -> None:
        if self._committed:
            return
        if self._manifest is None:
            raise ImageError("nothing to write: no manifest was stored", file=str(self.path))
        manifest = Manifest.from_json(*self._manifest)
        config_blob = self._need(manifest.config.digest)
        config = ImageConfig.from_json(config_blob.path.read_bytes())
        if len(config.diff_ids) != len(manifest.layers):
            raise ImageError("the config's diff_ids do not match the manifest's layers")
        files: list[tuple[str, _StoredBlob]] = []
        config_name = manifest.config.digest.split(":", 1)[1] + ".json"
        files.append((config_name, config_blob))
        layer_names = []
        for i, descriptor in enumerate(manifest.layers):
            stored = self._need(descriptor.digest)
            if stored.diff_id != config.diff_ids[i]:
                raise ImageError(
                    f"layer {descriptor.digest} uncompresses to {stored.diff_id}, "
                    f"but the config says {config.diff_ids[i]}"
                )
            name = stored.diff_id.split(":", 1)[1] + ".tar"
            if name not in layer_names:
                files.append((name, stored))
            layer_names.append(name)
        repo_tags = [self.ref.name_with_tag] if self.ref and self.ref.repository else []
        index = json.dumps(
            [{"Config": config_name, "RepoTags": repo_tags, "Layers": layer_names}],
            separators=(",", ":"),
        ).encode("utf-8")
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(fd, "wb") as out, tarfile.open(fileobj=out, mode="w:") as tar:
                for name, stored in files:
                    with open(stored.path, "rb") as stream:
                        tar.addfile(_info(name, stored.size), stream)
                tar.addfile(_info("manifest.json", len(index)), io.BytesIO(index))
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._committed = True

    def _need(self, digest: str) -> _StoredBlob:
        stored = self._blobs.get(digest)
        if stored is None:
            raise ImageError(f"blob {digest} was never stored", file=str(self.path))
        return stored

    def close(self) -> None:
        shutil.rmtree(self._work, ignore_errors=True)

    def __enter__(self) -> DockerArchiveDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = NORMALIZED_MTIME
    info.uname = info.gname = ""
    return info
