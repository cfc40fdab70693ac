"""The keep tests' world (tests/keep/world.py: a local apt stack, a Git repository, the tiny
bash buildpack's builder) served by a real ``cnbsdk serve --no-poll`` with its web pages
(tests/keep/web/serve_process.py): what the browser tests and bench/serve_load.py run
against. Builds take seconds and a stack update is a real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.keep.web.serve_process import WEB_LINE, Serve, start_serve
from tests.keep.world import World, make_world

DONE = ("success", "failure")


@dataclass
class Site:
    world: World
    serve: Serve
    token: str  # the trigger token serve printed

    @property
    def url(self) -> str:
        """The base URL, ending in ``/``."""
        return self.serve.url

    def api(self, path: str) -> Any:
        """GET ``/api/v1/{path}`` as JSON."""
        with urllib.request.urlopen(f"{self.url}api/v1/{path}", timeout=30) as response:
            return json.load(response)

    def cli(self, *args: str) -> str:
        """``cnbsdk ARGS`` as its own process on the served store, as a user runs it."""
        done = subprocess.run(
            [sys.executable, "-m", "cnbsdk.cli.main", *args],
            env={**os.environ, "CNBSDK_HOME": str(self.world.home)},
            cwd=self.world.root,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def builds(self, image: str) -> list[dict[str, Any]]:
        return list(self.api(f"images/{image}/builds"))

    def latest(self, image: str) -> dict[str, Any] | None:
        builds = self.builds(image)
        return builds[-1] if builds else None

    def finished(self, image: str) -> dict[str, Any] | None:
        """The image's latest build if it has ended (succeeded or failed), else None."""
        build = self.latest(image)
        return build if build is not None and build["status"] in DONE else None


def start_site(root: Path, *serve_args: str) -> Site:
    """The world made under ``root`` and ``cnbsdk serve --listen 127.0.0.1:0 --no-poll
    SERVE_ARGS`` on its store (output in ``root/serve.log``), with a token of its own."""
    world = make_world(root)
    serve = start_serve(world.home, root / "serve.log", "--no-poll", *serve_args, token=None)
    found = WEB_LINE.search(serve.output())
    assert found is not None
    return Site(world, serve, found.group(3))


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll ``predicate`` every 0.2 s until it returns something true; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
