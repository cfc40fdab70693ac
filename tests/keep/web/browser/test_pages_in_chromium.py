"""The web pages of ``cnbsdk serve`` as a person uses them, in Debian's Chromium: images made
with the CLI appear and follow their builds without a reload; a running build's log grows on
the image page, its phase headers listed; a stack update shows as a STACK rebase; the
trigger button is refused without the token. A screenshot of each page is saved
(conftest.py says where)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.keep.web.live_site import Site, wait_for
from tests.keep.world import BUILDER

pytestmark = pytest.mark.slow


def create_app(site: Site) -> None:
    site.cli("image", "create", "app", "--tag", "keep-test/app",
             "--git", f"file://{site.world.repo}", "--builder", BUILDER)  # fmt: skip


@pytest.fixture(scope="module")
def app(site: Site) -> str:
    """The image "app" (the world's Git repository on the tiny builder), built: by the
    first test, or here when that test is not run."""
    if not any(image["name"] == "app" for image in site.api("images")):
        create_app(site)
    build = wait_for(lambda: site.finished("app"), "app's build")
    assert build["status"] == "success", build
    return "app"


def test_the_images_page_lists_cli_images_and_follows_their_builds_without_reloading(
    site: Site, browser: Any, screenshots: Path
) -> None:
    page = browser.new_page()
    page.goto(site.url)
    page.wait_for_selector("#images")
    page.evaluate("window.notReloaded = true")
    create_app(site)  # with the page open: the row must appear by itself
    row = page.locator('#images tr[data-image="app"]')
    row.wait_for()
    assert row.get_attribute("data-status") in ("notready", "building")
    page.wait_for_selector('#images tr[data-image="app"][data-status="ready"]')
    assert page.evaluate("window.notReloaded") is True
    build = site.latest("app")
    assert build is not None and build["number"] == 1 and build["reasons"] == ["CONFIG"]
    text = row.inner_text()
    assert "keep-test/app" in text and "CONFIG" in text and BUILDER in text, text
    assert build["result"]["tags"][1].rpartition(":")[2] in text  # the build's own tag
    page.screenshot(path=str(screenshots / "images.png"), full_page=True)
    page.close()


def test_a_running_builds_log_grows_on_the_image_page(
    site: Site, browser: Any, screenshots: Path
) -> None:
    source = site.world.root / "ticker"
    source.mkdir()
    (source / "hello.txt").write_text("tick\n")
    (source / "lines.txt").write_text("15\n")  # 15 lines, 0.3 s apart
    site.cli("image", "create", "ticker", "--tag", "keep-test/ticker",
             "--local-path", str(source), "--builder", BUILDER)  # fmt: skip
    wait_for(lambda: site.latest("ticker"), "ticker's build to be queued")
    page = browser.new_page()
    page.goto(f"{site.url}images/ticker?build=1")
    log = page.locator("#log")
    lengths: list[int] = []  # the log's length on the page, sampled while the build runs
    while True:
        length = len(log.text_content() or "")
        if site.finished("ticker"):
            break
        lengths.append(length)
        time.sleep(0.2)
    grew = sum(1 for before, after in itertools.pairwise(lengths) if after > before)
    assert grew >= 2, f"the log grew {grew} time(s) while the build ran: {lengths}"
    assert (site.finished("ticker") or {})["status"] == "success"
    expect(log).to_contain_text("Build successful")  # the end of the log, once streamed
    assert "tiny build: line 15" in (log.text_content() or "")
    phases = page.locator("#phases").inner_text()
    for phase in ("DETECTING", "BUILDING", "EXPORTING"):
        assert phase in phases, phases
        assert page.locator("#log span.phase", has_text=f"===> {phase}").count() == 1
    assert page.locator("#phases a").count() >= 3
    page.screenshot(path=str(screenshots / "image-with-live-log.png"), full_page=True)
    page.close()


def test_a_stack_update_shows_as_a_stack_rebase(
    site: Site, app: str, browser: Any, screenshots: Path
) -> None:
    before = site.latest(app)
    assert before is not None
    assert "CVE-2099-0003" in site.world.patch_probe("1.0-1", "1.0-2", "CVE-2099-0003")
    site.cli("reconcile", app)  # serve runs with --no-poll: one pass, as a user runs it
    rebase = site.latest(app)
    assert rebase is not None and rebase["number"] == before["number"] + 1
    assert rebase["reasons"] == ["STACK"] and rebase["kind"] == "rebase"
    old = before["result"]["run_image"].rpartition("@")[2]
    new = rebase["result"]["run_image"].rpartition("@")[2]
    assert old != new
    page = browser.new_page()
    page.goto(f"{site.url}images/{app}")
    row = page.locator(f'#builds tr[data-build="{rebase["number"]}"]')
    row.wait_for()
    assert row.get_attribute("data-kind") == "rebase"
    assert row.get_attribute("data-status") == "success"
    text = row.inner_text()
    assert "STACK" in text and "REBASE" in text.upper(), text
    short = len("sha256:") + 12  # as much of a digest as any page shows
    assert old[:short] in text and new[:short] in text, text
    assert text.index(old[:short]) < text.index("→") < text.index(new[:short]), text
    earlier = page.locator(f'#builds tr[data-build="{before["number"]}"]')
    assert earlier.get_attribute("data-kind") == "build"
    page.screenshot(path=str(screenshots / "image-after-stack-rebase.png"), full_page=True)
    page.close()


def test_the_trigger_button_is_refused_without_the_token(
    site: Site, app: str, browser: Any, screenshots: Path
) -> None:
    page = browser.new_page()
    page.goto(site.url)
    button = page.locator(f'#images button.trigger[data-image="{app}"]')
    message = page.locator("#message")
    counter = site.api(f"images/{app}")["buildCounter"]
    for token in ("", "not-the-token"):
        page.fill("#token", token)
        page.evaluate("document.querySelector('#message').textContent = ''")
        button.click()
        expect(message).to_contain_text("refused")
        assert "accepted" not in (message.text_content() or "")
    page.screenshot(path=str(screenshots / "images-trigger-refused.png"), full_page=True)
    time.sleep(1.5)  # more than one of serve's ticks: a recorded trigger would be queued
    status = site.api(f"images/{app}")
    assert status["buildCounter"] == counter and status["triggerRequested"] == ""
    page.fill("#token", site.token)
    button.click()
    expect(message).to_contain_text("accepted")
    triggered = wait_for(
        lambda: [b for b in site.builds(app) if b["number"] > counter], "the TRIGGER build"
    )
    assert [(b["number"], b["reasons"]) for b in triggered] == [(counter + 1, ["TRIGGER"])]
    page.goto(f"{site.url}images/{app}")
    row = page.locator(f'#builds tr[data-build="{counter + 1}"]')
    row.wait_for()
    assert "TRIGGER" in row.inner_text()
    page.close()
