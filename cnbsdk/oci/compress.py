"""Gzip for layers on their way to a registry, and the record of what was compressed.

Layers are kept as plain tars where cnbsdk works with them (the local store, the cache, OCI
layouts: digest == diffID, nothing to inflate) and gzipped where they travel (a registry).
The gzip stream is the one ``layer_tar`` writes with ``compress=True`` — same level, mtime 0,
no file name — so a layer gets the same compressed digest whether it was gzipped while being
tarred or afterwards from its tar, and the same inputs give the same manifest digest.

``CompressionIndex`` remembers diffID → compressed blob (``<store>/compressed/<hex>.json``),
so pushing the same uncompressed layer again asks the registry for that blob (one HEAD)
instead of compressing it again.
"""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cnbsdk.errors import ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import CHUNK, HashingWriter, check_digest, digest_hex, verify
from cnbsdk.oci.layer_tar import DEFAULT_GZIP_LEVEL, Layer
from cnbsdk.oci.store import store_path

# Plain tar layer types and their gzip twins (same family, OCI or Docker).
GZIP_TWIN = {
    mt.OCI_LAYER: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER: mt.DOCKER_LAYER_GZIP,
    mt.OCI_LAYER_NONDISTRIBUTABLE: mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
}


def gzip_media_type(media_type: str) -> str | None:
    """The gzip media type for a plain tar layer type; None when it is not one."""
    return GZIP_TWIN.get(media_type)


@dataclass(frozen=True)
class Gzipped:
    """The result of compressing one tar stream: both digests and both sizes."""

    diff_id: str  # sha256 of the tar read
    tar_size: int
    digest: str  # sha256 of the gzip written
    size: int


def gzip_stream(source: BinaryIO, out: BinaryIO, *, level: int = DEFAULT_GZIP_LEVEL) -> Gzipped:
    """Gzip ``source`` into ``out`` in one streaming pass, hashing both sides."""
    # wbits=31: a gzip wrapper with mtime 0 and no name, exactly as layer_tar writes it
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31, 9)
    tar = HashingWriter()
    blob = HashingWriter(out)
    while chunk := source.read(CHUNK):
        tar.write(chunk)
        compressed = compressor.compress(chunk)
        if compressed:
            blob.write(compressed)
    blob.write(compressor.flush())
    return Gzipped(tar.digest, tar.size, blob.digest, blob.size)


def gzip_file(
    source: BinaryIO, directory: Path, *, level: int = DEFAULT_GZIP_LEVEL
) -> tuple[Path, Gzipped]:
    """Gzip a stream into a new file in ``directory`` named after its digest."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".gzip-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            result = gzip_stream(source, out, level=level)
        final = directory / (digest_hex(result.digest) + ".tar.gz")
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return final, result


def compress_layer(layer: Layer, directory: Path, *, level: int = DEFAULT_GZIP_LEVEL) -> Layer:
    """The gzip twin of an uncompressed layer file, written to ``directory``.

    The tar is re-read, never re-made; its diffID is checked on the way. A layer that is
    already compressed (or not a plain tar) is returned as it is.
    """
    media_type = gzip_media_type(layer.media_type)
    if media_type is None:
        return layer
    with open(layer.path, "rb") as stream:
        path, result = gzip_file(stream, directory, level=level)
    try:
        verify(layer.diff_id, None, result.diff_id, result.tar_size, what=f"layer tar {layer.path}")
    except ImageError:
        path.unlink(missing_ok=True)
        raise
    return Layer(path, result.digest, result.size, layer.diff_id, media_type)


@dataclass(frozen=True)
class CompressedBlob:
    """Where an uncompressed layer went once gzipped: the blob's digest and size."""

    digest: str
    size: int


class CompressionIndex:
    """diffID → compressed blob, one small JSON file per layer under ``root``.

    The entries are facts about content (gzip of these exact bytes), so they never go stale;
    a registry that lacks the recorded blob simply gets it compressed and uploaded again.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, diff_id: str) -> Path:
        return self.root / (digest_hex(diff_id) + ".json")

    def get(self, diff_id: str) -> CompressedBlob | None:
        path = self._path(diff_id)
        try:
            data = json.loads(path.read_bytes())
            blob = CompressedBlob(check_digest(data["digest"]), int(data["size"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, ImageError):
            return None  # a damaged entry is as good as none: it is recomputed
        return blob if blob.size > 0 else None

    def put(self, diff_id: str, blob: CompressedBlob) -> None:
        path = self._path(diff_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"digest": blob.digest, "size": blob.size}).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def default_index() -> CompressionIndex:
    """The index kept next to the local store's blobs: ``<store>/compressed``."""
    return CompressionIndex(store_path() / "compressed")


__all__ = [
    "CompressedBlob",
    "CompressionIndex",
    "Gzipped",
    "compress_layer",
    "default_index",
    "gzip_file",
    "gzip_media_type",
    "gzip_stream",
]
