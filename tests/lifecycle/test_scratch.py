"""Build scratch directories (cnbsdk.lifecycle.scratch): locked while their build runs,
removed by the next build once their process is gone, and nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from cnbsdk.lifecycle.scratch import OWNER_FILE, build_scratch_dir, remove_stale_scratch_dirs

REPO = Path(__file__).resolve().parents[2]

KILLED_BUILD = """
import os, signal
from cnbsdk.lifecycle.scratch import build_scratch_dir
scratch = build_scratch_dir()  # kept referenced: its cleanup must not run
path = scratch.__enter__()
(path / "app.txt").write_text("a copy of the app")
print(path, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def killed_build_dir(tmp_path: Path) -> Path:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD], env=env, capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    return Path(done.stdout.strip())


def test_the_directory_of_a_sigkilled_process_is_removed(tmp_path: Path):
    stale = killed_build_dir(tmp_path)
    assert (stale / "app.txt").is_file()
    assert (stale / OWNER_FILE).read_text().strip().isdigit()  # its pid, for humans

    assert remove_stale_scratch_dirs(tmp_path) == [stale]
    assert list(tmp_path.iterdir()) == []


def test_a_running_builds_directory_is_kept_until_its_build_ends(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale = killed_build_dir(tmp_path)
    with build_scratch_dir() as live:
        assert not stale.exists()  # swept when this build started
        (live / "layer").mkdir()
        assert remove_stale_scratch_dirs(tmp_path) == []
        assert (live / "layer").is_dir()
    assert list(tmp_path.iterdir()) == []


def test_only_real_directories_of_this_user_are_swept(tmp_path: Path):
    target = tmp_path / "precious"
    target.mkdir()
    (tmp_path / "cnbsdk-build-link").symlink_to(target)
    foreign = tmp_path / "cnbsdk-build-foreign"
    foreign.mkdir()
    os.chown(foreign, os.getuid() + 1, os.getgid())
    old = time.time() - 3600
    for path in (target, foreign):
        os.utime(path, (old, old))

    assert remove_stale_scratch_dirs(tmp_path) == []
    assert target.is_dir() and foreign.is_dir()


def test_a_directory_without_its_owner_file_is_removed_only_when_old(tmp_path: Path):
    young = tmp_path / "cnbsdk-build-young"  # a build between mkdtemp and its lock
    old = tmp_path / "cnbsdk-build-old"  # a build killed in that instant, long ago
    young.mkdir()
    old.mkdir()
    long_ago = time.time() - 3600
    os.utime(old, (long_ago, long_ago))

    assert remove_stale_scratch_dirs(tmp_path) == [old]
    assert young.is_dir()
