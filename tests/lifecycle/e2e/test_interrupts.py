"""Killing ``cnbsdk build`` (SIGINT, SIGTERM, SIGKILL) in detect, build or export leaves the
previous image and the cache readable and unchanged, and the next build succeeds.

These run the real command line in a subprocess (``python -m cnbsdk.cli.main``) so that the
signal reaches a process of its own. Detect and build are held by ``e2e/bad`` sleeping; export
is caught by the header ``===> EXPORTING`` with a launch layer of many small files to tar.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.lifecycle.e2e.conftest import (
    CliProcess,
    build_args,
    cache_state,
    cli_env,
    cnbsdk,
    read_app_image,
)

pytestmark = pytest.mark.usefixtures("e2e_home")

# phase: (extra build args, the output line to wait for)
PHASES = {
    "detect": (("--env", "BAD_MODE=sleep-detect"), "===> DETECTING"),
    "build": (("--env", "BAD_MODE=sleep-build"), "bad build: sleeping"),
    "export": (("--env", "BAD_MODE=ok", "--env", "E2E_MANY_FILES=40000"), "===> EXPORTING"),
}


@pytest.mark.parametrize("phase", sorted(PHASES))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_build_leaves_image_and_cache_and_the_next_build_succeeds(
    tmp_path: Path, phase: str, signum: int
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hi\n")
    image = f"oci:{tmp_path}/layout:app"
    cache = tmp_path / "cache"
    good = build_args(app, image, cache, "layers", "bad", extra=("--env", "BAD_MODE=ok"))
    first = cnbsdk(*good)
    assert first.exit_code == 0, first.output
    digest, state = read_app_image(image).digest, cache_state(cache)

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    extra, marker = PHASES[phase]
    process = CliProcess(
        build_args(app, image, cache, "layers", "bad", extra=extra), cli_env(TMPDIR=str(scratch))
    )
    process.wait_for(marker)
    if phase == "detect":
        time.sleep(1)  # detect output is only shown at the end: give bin/detect time to start
    process.process.send_signal(signum)
    code = process.finish()

    assert "Successfully built" not in process.output, "the signal came too late"
    if signum == signal.SIGINT:
        assert code == 128 + signal.SIGINT, process.output
        assert "error: build interrupted by SIGINT" in process.output
        assert "Traceback" not in process.output
        assert list(scratch.iterdir()) == []  # the workspace was removed
    else:
        assert code == -signal.SIGKILL
    assert read_app_image(image).digest == digest
    assert cache_state(cache) == state

    again = cnbsdk(*good)
    assert again.exit_code == 0, again.output
    assert "layers build: restore check passed" in again.output


def test_sigterm_aborts_like_sigint(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hi\n")
    image = f"oci:{tmp_path}/layout:app"
    args = build_args(
        app, image, tmp_path / "cache", "bad", extra=("--env", "BAD_MODE=sleep-build")
    )
    process = CliProcess(args, cli_env(TMPDIR=str(tmp_path)))
    process.wait_for("bad build: sleeping")
    process.process.send_signal(signal.SIGTERM)
    assert process.finish() == 128 + signal.SIGTERM
    assert "error: build interrupted by SIGTERM" in process.output
    assert not (tmp_path / "layout").exists()
