"""A SIGKILLed ``cnbsdk build`` leaves its workspace (a copy of the app and every layer) in
``$TMPDIR``; the next build removes it, and never the workspace of a build still running."""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

import pytest

from tests.lifecycle.e2e.conftest import CliProcess, build_args, cli_env, cnbsdk

pytestmark = pytest.mark.usefixtures("e2e_home")


def test_the_next_build_removes_the_workspace_of_a_killed_build_but_not_a_running_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hi\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = cli_env(TMPDIR=str(scratch))
    sleeping = ("--env", "BAD_MODE=sleep-build")

    killed = CliProcess(
        build_args(app, f"oci:{tmp_path}/killed:app", tmp_path / "c1", "bad", extra=sleeping), env
    )
    killed.wait_for("bad build: sleeping")
    killed.process.send_signal(signal.SIGKILL)
    assert killed.finish() == -signal.SIGKILL
    (stale,) = scratch.iterdir()
    assert (stale / "workspace" / "workspace" / "hello.txt").is_file()  # the app copy

    running = CliProcess(
        build_args(app, f"oci:{tmp_path}/running:app", tmp_path / "c2", "bad", extra=sleeping), env
    )
    try:
        running.wait_for("bad build: sleeping")
        (live,) = [p for p in scratch.iterdir() if p != stale]

        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        result = cnbsdk(*build_args(app, f"oci:{tmp_path}/next:app", tmp_path / "c3", "hello"))
        assert result.exit_code == 0, result.output

        assert not stale.exists()
        assert (live / "workspace" / "workspace" / "hello.txt").is_file()
        assert list(scratch.iterdir()) == [live]
    finally:
        running.process.send_signal(signal.SIGINT)
        running.finish()
    assert list(scratch.iterdir()) == []
