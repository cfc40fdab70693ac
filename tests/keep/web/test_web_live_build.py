"""A real build seen through the web API: the tiny bash buildpack (tests/keep/fixtures/tiny)
in the keep tests' builder (tests/keep/world.py), ``cnbsdk serve --no-poll`` as a process. The
trigger without the token queues nothing; with it the next tick queues a TRIGGER build,
whose log arrives over Server-Sent Events in pieces while the buildpack sleeps between its
lines, and ends with ``event: end``. The API's answers equal the CLI's ``--json`` for the
same store.

Starts: apt-ftparchive/dpkg-deb (a local apt repository for the stack), bubblewrap (the
buildpack runs in the build image), ``cnbsdk serve`` with its worker processes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.image_helpers import private_home
from tests.keep.web.serve_process import TOKEN, Serve, events, port_is_free, start_serve
from tests.keep.world import BUILDER, make_world, ok

SLEEP = 3

pytestmark = pytest.mark.slow


@dataclass
class Live:
    home: Path
    app: Path
    serve: Serve


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The keep tests' world (tests/keep/world.py: a stack from a local apt repository and a
    builder with the tiny buildpack), the image ``app`` built once (CONFIG) by ``cnbsdk
    reconcile``, then ``serve --no-poll`` on its store."""
    root = tmp_path_factory.mktemp("web-live")
    world = make_world(root)
    home = world.home
    with private_home(home), pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        app = root / "app"
        app.mkdir()
        (app / "hello.txt").write_text("hello web\n")
        (app / "sleep.txt").write_text(f"{SLEEP}\n")
        ok(
            "image",
            "create",
            "app",
            "--tag",
            "web-test/app",
            "--local-path",
            str(app),
            "--builder",
            BUILDER,
        )
        assert "app: build 1 SUCCESS" in ok("reconcile")
        serve = start_serve(home, root / "serve.log", "--no-poll", "--jobs", "1")
        try:
            yield Live(home, app, serve)
        finally:
            assert serve.stop(timeout=120) == 0, serve.output()
            assert port_is_free(serve.port)


def test_a_triggered_builds_log_streams_live_and_the_api_matches_the_cli(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNBSDK_HOME", str(live.home))
    api = live.serve.url + "api/v1"
    refused = requests.post(f"{api}/images/app/trigger", timeout=30)
    assert refused.status_code == 401
    time.sleep(2)  # two ticks: nothing queued
    assert [b["number"] for b in requests.get(f"{api}/images/app/builds", timeout=30).json()] == [1]
    answer = requests.post(
        f"{api}/images/app/trigger", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 202, answer.text

    got: list[tuple[float, dict[str, str]]] = []

    def read() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the tick has queued build 2
            with requests.get(
                f"{api}/images/app/builds/2/log/stream", stream=True, timeout=120
            ) as stream:
                if stream.status_code == 404:
                    time.sleep(0.1)
                    continue
                for event in events(stream):
                    got.append((time.monotonic(), event))
                return

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=300)
    assert not reader.is_alive()
    logs = [(t, e) for t, e in got if e.get("event") == "log"]
    assert got[-1][1] == {"event": "end", "data": json.dumps({"status": "success", "number": 2})}
    text = "".join(e["data"] + "\n" for _t, e in logs)
    sleeping = next(t for t, e in logs if "tiny build: sleeping" in e["data"])
    after = [t for t, e in logs if t > sleeping]
    assert after and after[-1] - sleeping >= SLEEP - 0.5  # it arrived while the build ran
    assert text.startswith("Build reason(s): TRIGGER\n")
    assert "===> BUILD" in text and "tiny build: greeting is hello web" in text
    log = requests.get(f"{api}/images/app/builds/2/log", timeout=30).text
    assert text == log == ok("build", "logs", "app", "-b", "2")

    def cli_json(*args: str) -> object:
        return json.loads(ok(*args, "--json"))

    status = requests.get(f"{api}/images/app", timeout=30).json()
    assert status == cli_json("image", "status", "app")
    assert requests.get(f"{api}/images", timeout=30).json() == cli_json("image", "list")
    assert requests.get(f"{api}/images/app/builds", timeout=30).json() == cli_json(
        "build", "list", "app"
    )
    assert requests.get(f"{api}/images/app/builds/2", timeout=30).json() == cli_json(
        "build", "status", "app", "-b", "2"
    )
    assert status["status"] == "ready" and status["builder"] == BUILDER
    assert status["latestKind"] == "build" and status["latestTag"].startswith("web-test/app:b2.")
    assert status["runImage"].startswith("oci:") and "@sha256:" in status["runImage"]
    assert (status["vulnerabilities"], status["signed"]) == (None, False)
    build = requests.get(f"{api}/images/app/builds/2", timeout=30).json()
    assert build["reasons"] == ["TRIGGER"]
    assert build["result"]["buildpacks"] == ["keep/tiny@1.0.0"]
