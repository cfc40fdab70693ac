"""Fetching a dependency with its sha256 checked while it streams to disk.

HTTP goes through the standard library's ``urllib.request``: this room is vendored into
packaged buildpacks, which carry no third-party HTTP client (docs/dependencies.md). The
file is written under a temporary name beside its final one and renamed only after its
checksum matched, so a reader never finds a partial or unverified file.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from cnbsdk.errors import DependencyError

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60.0


def filename_of(uri: str) -> str:
    """The file name a URI names (its last path segment), ``dependency`` when it has none."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
    name = posixpath.basename(path.rstrip("/"))
    return name if name not in ("", ".", "..") else "dependency"


def _hex(checksum: str) -> str:
    return checksum.partition(":")[2] if ":" in checksum else checksum


def copy_verified(stream: BinaryIO, checksum: str, destination: Path, *, source: str) -> Path:
    """Copy ``stream`` to ``destination`` (atomically) if its sha256 is ``checksum``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
    )
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != _hex(checksum):
            raise DependencyError(
                f"checksum mismatch: expected sha256:{_hex(checksum)}, got sha256:{actual}",
                file=source,
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return destination


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def download(
    uri: str,
    checksum: str,
    destination: Path,
    *,
    user_agent: str = "cnbsdk",
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Fetch ``uri`` (``http``, ``https`` or ``file``) to ``destination``, verified."""
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme == "file":
        path = urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)
        try:
            with open(path, "rb") as stream:
                return copy_verified(stream, checksum, destination, source=uri)
        except FileNotFoundError:
            raise DependencyError("no such file", file=uri) from None
    if scheme not in ("http", "https"):
        raise DependencyError(
            f"cannot download a {scheme or 'relative'!r} URI: expected https://, http:// or file://",
            file=uri,
        )
    request = urllib.request.Request(uri, headers={"User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return copy_verified(response, checksum, destination, source=uri)
    except urllib.error.HTTPError as error:
        raise DependencyError(
            f"download failed: HTTP {error.code} {error.reason}", file=uri
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise DependencyError(f"download failed: {reason}", file=uri) from None


def copy_file(source: Path, destination: Path) -> None:
    """Copy a verified artifact (hard link when the file system allows it)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
