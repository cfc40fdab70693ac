"""``kill -9`` in the middle of writing a blob (issue #11 class 6): the temporary file it
leaves in an OCI layout or the local store is removed by the next write there, while a
live writer's is left alone. The writer is a real process, killed for real; no sleeps
decide anything (the marker file says when the blob is half written)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnbsdk.oci.layout import OciLayout
from tests.hardening.conftest import run_cli

# Streams a blob into the layout at argv[1]; after the first MiB it touches argv[2] and
# waits (for the kill, or for stdin to close).
WRITER = r"""
import hashlib, sys
from pathlib import Path
from cnbsdk.oci.layout import OciLayout

class Slow:
    def __init__(self):
        self.sent = 0
    def read(self, n=-1):
        if self.sent == 0:
            self.sent = 1
            return b"x" * (1 << 20)
        Path(sys.argv[2]).touch()
        sys.stdin.read()  # blocks until killed (or stdin closes)
        return b""

layout = OciLayout(sys.argv[1])
layout.create()
layout.put_blob("sha256:" + hashlib.sha256(b"never").hexdigest(), 2 << 20, Slow())
"""


def _start_writer(layout: Path, marker: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(layout), str(marker)], stdin=subprocess.PIPE
    )
    deadline = time.monotonic() + 60  # only a guard against a hang, not a measurement
    while not marker.exists():
        assert process.poll() is None, "the writer died early"
        assert time.monotonic() < deadline, "the writer never got going"
        time.sleep(0.02)
    return process


def _temps(layout: Path) -> list[Path]:
    return sorted(layout.glob(".blob-*.tmp"))


def _age(paths: list[Path]) -> None:
    """As if written a minute ago (a sweep leaves very young temp files alone)."""
    old = time.time() - 60
    for path in paths:
        os.utime(path, (old, old))


def test_kill_9_mid_blob_leaves_a_temp_file_that_the_next_write_removes(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    writer = _start_writer(layout, tmp_path / "marker")
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = _temps(layout)
    assert len(left) == 1 and left[0].stat().st_size >= 1 << 20
    _age(left)

    OciLayout(layout).put_bytes(b"the next run writes here")
    assert _temps(layout) == []


def test_a_live_writers_temp_file_is_not_swept(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    writer = _start_writer(layout, tmp_path / "marker")
    try:
        live = _temps(layout)
        _age(live)
        OciLayout(layout).put_bytes(b"another writer at the same time")
        assert _temps(layout) == live
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


def test_a_killed_write_to_the_store_is_swept_by_the_next_cnbsdk_command(
    tmp_path: Path, private_dirs: Path
) -> None:
    store = private_dirs / "home" / "images"
    writer = _start_writer(store, tmp_path / "marker")
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    _age(_temps(store))
    assert _temps(store)

    source = tmp_path / "source"
    src = OciLayout(source)
    src.create()
    from tests.hardening.test_tar_and_image_inputs import GOOD_LAYER, raw_image

    raw_image(source, [GOOD_LAYER], tag="v1")
    result = run_cli("copy", f"oci:{source}:v1", "swept/app:v1")
    assert result.exit_code == 0, result.output
    assert _temps(store) == []


@pytest.mark.parametrize("name", [".blob-abc.tmp", ".blob-.tmp"])
def test_a_temp_file_that_is_a_link_or_young_is_left(tmp_path: Path, name: str) -> None:
    layout = OciLayout(tmp_path / "layout")
    layout.create()
    (tmp_path / "outside").write_text("not ours")
    link = tmp_path / "layout" / name
    link.symlink_to(tmp_path / "outside")
    young = tmp_path / "layout" / ".blob-young.tmp"
    young.write_text("being written")
    layout.put_bytes(b"x")
    assert link.is_symlink() and young.exists()
    assert (tmp_path / "outside").read_text() == "not ours"
