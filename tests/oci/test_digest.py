"""Hashing streams: what passes through them is counted and hashed exactly once."""

from __future__ import annotations

import hashlib
import io
import zipfile

from cnbsdk.oci.digest import HashingWriter


def test_a_hashing_writer_cannot_seek_so_a_probing_writer_streams_through_it() -> None:
    out = io.BytesIO()
    writer = HashingWriter(out)
    assert writer.seekable() is False
    with zipfile.ZipFile(writer, "w") as archive:  # probes seekable()/tell() like tarfile
        archive.writestr("hello.txt", "hello\n")
    written = out.getvalue()
    assert writer.digest == "sha256:" + hashlib.sha256(written).hexdigest()
    assert writer.size == writer.tell() == len(written)
    assert zipfile.ZipFile(io.BytesIO(written)).read("hello.txt") == b"hello\n"
