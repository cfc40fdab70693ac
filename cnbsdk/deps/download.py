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
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from cnbsdk.errors import DependencyError

CHUNK = 1 << 20
DEFAULT_TIMEOUT = 30.0  # seconds to connect, and to wait for each piece of data
DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF = 0.5


def filename_of(uri: str) -> str:
    """The file name a URI names (its last path segment), ``dependency`` when it has none."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(uri).path)
    name = posixpath.basename(path.rstrip("/"))
    return name if name not in ("", ".", "..") else "dependency"


def _hex(checksum: str) -> str:
    return checksum.partition(":")[2] if ":" in checksum else checksum


class Readable(Protocol):
    """Anything with ``read(size)``: a file, an HTTP response."""

    def read(self, size: int = -1, /) -> bytes: ...


def copy_verified(stream: Readable, checksum: str, destination: Path, *, source: str) -> Path:
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


class _Counting:
    """A stream that reports how many bytes have been read from it."""

    def __init__(self, stream: Readable, total: int, progress: Progress) -> None:
        self._stream = stream
        self._total = total
        self._progress = progress
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._done += len(chunk)
        self._progress(self._done, self._total)
        return chunk


Progress = Callable[[int, int], None]  # (bytes so far, total or 0 when unknown)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def download(
    uri: str,
    checksum: str,
    destination: Path,
    *,
    user_agent: str = "cnbsdk",
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff: float = DEFAULT_BACKOFF,
    progress: Progress | None = None,
    extra_ca_files: Sequence[Path] = (),
) -> Path:
    """Fetch ``uri`` (``http``, ``https`` or ``file``) to ``destination``, verified.

    ``timeout`` bounds connecting and each wait for data (an idle server fails, a slow one
    does not); failures that another try can cure (no connection, time-outs, 408, 429, 5xx)
    are tried up to ``attempts`` times in all, waiting ``backoff`` seconds before the second
    try and twice as long before each next one.
    A checksum mismatch or another HTTP error is final. ``extra_ca_files`` (PEM) are
    trusted besides the system's certificate authorities (a company proxy's, say).
    """
    scheme = urllib.parse.urlsplit(uri).scheme.lower()
    if scheme == "file":
        path = urllib.request.url2pathname(urllib.parse.urlsplit(uri).path)
        try:
            with open(path, "rb") as local:
                return copy_verified(local, checksum, destination, source=uri)
        except FileNotFoundError:
            raise DependencyError("no such file", file=uri) from None
    if scheme not in ("http", "https"):
        raise DependencyError(
            f"cannot download a {scheme or 'relative'!r} URI: expected https://, http:// or file://",
            file=uri,
        )
    request = urllib.request.Request(uri, headers={"User-Agent": user_agent})
    tls = tls_context(extra_ca_files, uri) if scheme == "https" else None
    for attempt in range(1, max(1, attempts) + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=tls) as response:
                stream: Readable = response
                if progress is not None:
                    total = int(response.headers.get("Content-Length") or 0)
                    stream = _Counting(response, total, progress)
                return copy_verified(stream, checksum, destination, source=uri)
        except urllib.error.HTTPError as error:
            failure = f"HTTP {error.code} {error.reason}"
            if error.code not in RETRY_STATUSES:
                raise DependencyError(f"download failed: {failure}", file=uri) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            failure = str(reason)
        if attempt < attempts:
            time.sleep(backoff * 2 ** (attempt - 1))
    tries = "once" if attempts <= 1 else f"{attempts} times"
    raise DependencyError(f"download failed ({tries}): {failure}", file=uri)


def tls_context(extra_ca_files: Sequence[Path], uri: str) -> ssl.SSLContext | None:
    if not extra_ca_files:
        return None
    context = ssl.create_default_context()
    for path in extra_ca_files:
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as error:
            raise DependencyError(
                f"cannot use the CA certificate {path}: {error}", file=uri
            ) from None
    return context


def copy_file(source: Path, destination: Path) -> None:
    """Copy a verified artifact (hard link when the file system allows it)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
