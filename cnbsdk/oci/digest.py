"""Content digests (``sha256:<hex>``), descriptors, and hashing streams.

Everything that moves a blob hashes it on the way through, so nothing is read twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cnbsdk.errors import ImageError

_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
CHUNK = 1 << 20


def sha256_digest(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(value: str, *, field_name: str = "digest", file: str | None = None) -> str:
    """Return ``value`` if it is a ``sha256:<64 hex>`` digest, else raise ImageError."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise ImageError(
            f"invalid digest {value!r}: expected sha256:<64 lowercase hex digits>",
            file=file,
            field=field_name,
        )
    return value


def file_sha256(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as stream:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while n := stream.readinto(buffer):
            digest.update(view[:n])
    return "sha256:" + digest.hexdigest()


_BYTECODE_DIRS = frozenset({"__pycache__"})


def tree_digest(root: Path) -> str:
    """A hex digest of a file, or of a tree's relative paths, file contents, executable bits
    and symlink targets (``__pycache__`` and ``*.pyc`` left out): equal trees, equal digest."""
    root = Path(root)
    if root.is_file():
        return digest_hex(file_sha256(root))
    digest = hashlib.sha256()
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _BYTECODE_DIRS)
        for name in sorted([*dirs, *files]):
            if name.endswith(".pyc"):
                continue
            path = Path(directory, name)
            info = path.lstat()
            digest.update(os.fsencode(path.relative_to(root)) + b"\0")
            if stat.S_ISLNK(info.st_mode):
                digest.update(b"L" + os.fsencode(os.readlink(path)))
            elif stat.S_ISREG(info.st_mode):
                digest.update(b"X" if info.st_mode & 0o111 else b"F")
                digest.update(file_sha256(path).encode())
            digest.update(b"\0")
    return digest.hexdigest()


def digest_hex(digest: str) -> str:
    """The hex part of a checked digest (the blob's file name in an OCI layout)."""
    return check_digest(digest).split(":", 1)[1]


@dataclass(frozen=True)
class Platform:
    """Where an image runs: os/architecture[/variant]."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Platform:
        return cls(
            os=str(data.get("os", "")),
            architecture=str(data.get("architecture", "")),
            variant=str(data.get("variant", "") or ""),
            os_version=str(data.get("os.version", "") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True)
class Descriptor:
    """A pointer to a blob: its media type, digest and size (OCI image-spec descriptor)."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    platform: Platform | None = None
    urls: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Any, *, file: str | None = None, where: str = "") -> Descriptor:
        if not isinstance(data, Mapping):
            raise ImageError("descriptor must be an object", file=file, field=where or None)
        digest = check_digest(data.get("digest"), field_name=f"{where}.digest", file=file)
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ImageError(
                f"invalid size {size!r}: expected a non-negative integer",
                file=file,
                field=f"{where}.size",
            )
        media_type = data.get("mediaType", "")
        if not isinstance(media_type, str):
            raise ImageError("media type must be a string", file=file, field=f"{where}.mediaType")
        annotations = data.get("annotations") or {}
        platform = data.get("platform")
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            annotations={str(k): str(v) for k, v in dict(annotations).items()},
            platform=Platform.from_json(platform) if isinstance(platform, Mapping) else None,
            urls=tuple(str(u) for u in data.get("urls") or ()),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        return out


class HashingWriter:
    """A write-only stream that hashes and counts what passes to ``target`` (may be None)."""

    def __init__(self, target: BinaryIO | None = None) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.target is not None:
            self.target.write(data)
        return len(data)

    def seekable(self) -> bool:
        """What has been hashed cannot be taken back: callers that probe must stream."""
        return False

    def flush(self) -> None:
        if self.target is not None:
            self.target.flush()

    def tell(self) -> int:
        return self.size

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


class HashingReader:
    """A read-only stream that hashes and counts what is read from ``source``."""

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.source.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def seekable(self) -> bool:
        """Rewinding is possible (to the start only) when the source can seek, so an
        upload retry can send the blob again."""
        seekable = getattr(self.source, "seekable", None)
        return bool(seekable is not None and seekable())

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = 0) -> int:
        """Rewind to the start (the hash restarts); other seeks are refused."""
        if offset != 0 or whence != 0:
            raise OSError("a hashing stream can only be rewound to its start")
        self.source.seek(self.source.tell() - self.size)
        self.hash = hashlib.sha256()
        self.size = 0
        return 0

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def verify(
    digest: str, size: int | None, actual_digest: str, actual_size: int, *, what: str
) -> None:
    """Raise ImageError when content did not match its descriptor."""
    if size is not None and size >= 0 and actual_size != size:
        raise ImageError(f"{what}: size {actual_size} does not match the expected {size}")
    if actual_digest != digest:
        raise ImageError(f"{what}: content digest {actual_digest} does not match {digest}")
