"""A real ``cnbsdk serve`` with its web pages on the keep tests' world
(tests/keep/web/live_site.py), and Debian's Chromium driven headless by Playwright; both
module-scoped. Screenshots go to ``$CNBSDK_SCREENSHOTS`` (default: ``screenshots`` in
pytest's base temporary directory), printed at the end of the run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.keep.web.live_site import Site, start_site

CHROMIUM = Path("/usr/bin/chromium")
# Chromium as root, in a container, on a closed network: no sandbox, no GPU, and none of
# the background traffic that would otherwise flood refused connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_screenshot_dirs: list[Path] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The world and ``cnbsdk serve --no-poll --jobs 2`` on its store (two builds at once)."""
    running = start_site(tmp_path_factory.mktemp("web"), "--jobs", "2")
    try:
        yield running
    finally:
        assert running.serve.stop() == 0, running.serve.output()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("CNBSDK_SCREENSHOTS")
    directory = Path(configured) if configured else tmp_path_factory.getbasetemp() / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    if directory not in _screenshot_dirs:
        _screenshot_dirs.append(directory)
    return directory


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Playwright browser context on Debian's Chromium with a fresh profile directory
    (Playwright's own browser download is never used)."""
    from playwright.sync_api import expect, sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run scripts/setup"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(60_000)  # a loaded 2-core CI machine
        expect.set_options(timeout=60_000)
        try:
            yield context
        finally:
            context.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for directory in _screenshot_dirs:
        shots = sorted(p.name for p in directory.glob("*.png"))
        if shots:
            terminalreporter.write_line(f"screenshots of the web pages: {directory}")
            terminalreporter.write_line("  " + ", ".join(shots))
