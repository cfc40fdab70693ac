"""The JSON API of ``cnbsdk serve`` over real HTTP: ``cnbsdk serve --listen 127.0.0.1:0
--no-poll`` runs as a process on a store this module fills with build records (their
builder cannot be resolved, so serve leaves them alone unless asked). The answers have the
CLI's ``--json`` shapes; bad input is 400 or 404 with a JSON error; only the trigger with
the token changes anything; a running build's log streams as Server-Sent Events.

Starts: ``cnbsdk serve`` (uvicorn on loopback) as a process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from openapi_spec_validator import validate

from cnbsdk.cli.main import cli
from cnbsdk.keep.model import FAILURE, LOCAL, SUCCESS, BuildResult, ImageSpec, Inputs, Source
from cnbsdk.keep.processes import process_start
from cnbsdk.keep.runner import live_log_path
from cnbsdk.keep.store import Store
from tests.keep.web.serve_process import TOKEN, Serve, events, port_is_free, start_serve

BUILDER = "nosuch/builder:1"


def spec(name: str, source: Path, **changes: object) -> ImageSpec:
    made = ImageSpec(name, f"test/{name}", Source(LOCAL, str(source)), builder=BUILDER)
    return made.with_changes(**changes) if changes else made


def inputs(image: ImageSpec) -> Inputs:
    return Inputs(
        image.config(),
        LOCAL,
        "sha256:src",
        BUILDER,
        "sha256:bld",
        ("t/bp@1",),
        "run@sha256:r1",
        "stack",
        "0.20.0",
    )


def finished(store: Store, image: ImageSpec, status: str, kind: str, result: BuildResult) -> None:
    record = store.queue_build(image.name, kind=kind, changes=(), priority=1, inputs=inputs(image))
    assert record is not None
    store.finish(
        record.id,
        status=status,
        message="it broke" if status == FAILURE else "",
        result=result,
        log=f"log of {image.name} {record.number}\n".encode(),
    )


def running(store: Store, image: ImageSpec) -> int:
    """A build claimed by this test process (alive, so serve does not recover it)."""
    record = store.queue_build(
        image.name, kind="build", changes=(), priority=1, inputs=inputs(image)
    )
    assert record is not None
    assert store.claim(record.id, os.getpid(), process_start(os.getpid()))
    return record.id


def made(name: str, number: int, *, rebase: bool = False, **extra: object) -> BuildResult:
    tag = f"test/{name}"
    return BuildResult(
        digest=f"sha256:{number:064d}",
        image=f"{tag}:latest@sha256:{number:064d}",
        tags=(tag, f"{tag}:b{number}.20261203.120000"),
        run_image=f"run@sha256:r{number}",
        buildpacks=("t/bp@1",),
        seconds=1.5,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Serve]]:
    """alpha: scanned and signed, built then failed; beta: rebased, ready; gamma: building;
    delta: never built (serve tries to resolve it and cannot). Then serve on it."""
    root = tmp_path_factory.mktemp("web-api")
    home = root / "home"
    app = root / "app"  # not root: a local source is read whole, the store with it
    app.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNBSDK_HOME", str(home))
        with Store() as store:
            alpha = spec("alpha", app, advisory_db=str(root / "osv"), signing_key=str(root / "k"))
            beta, gamma, delta = (spec(n, app) for n in ("beta", "gamma", "delta"))
            for image in (alpha, beta, gamma, delta):
                store.add_image(image)
            vulns = (("HIGH", 2), ("LOW", 1))
            finished(
                store,
                alpha,
                SUCCESS,
                "build",
                made("alpha", 1, signature="test/alpha:sha256-1.sig", vulnerabilities=vulns),
            )
            finished(store, alpha, FAILURE, "build", BuildResult())
            finished(store, beta, SUCCESS, "build", made("beta", 1))
            finished(store, beta, SUCCESS, "rebase", made("beta", 2))
            finished(store, gamma, SUCCESS, "build", made("gamma", 1))
            running(store, gamma)
        serve = start_serve(home, root / "serve.log", "--no-poll")
        try:
            yield home, serve
        finally:
            code = serve.stop()
            assert code == 0, serve.output()


@pytest.fixture
def api(site: tuple[Path, Serve], monkeypatch: pytest.MonkeyPatch) -> str:
    """The API's base URL; CNBSDK_HOME is the served store's home meanwhile."""
    monkeypatch.setenv("CNBSDK_HOME", str(site[0]))
    return site[1].url + "api/v1"


def cli_json(*args: str) -> object:
    result = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def get(url: str, **kwargs: object) -> requests.Response:
    return requests.get(url, timeout=30, **kwargs)  # type: ignore[arg-type]


def error_of(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"]
    return str(body["error"])


def test_the_api_answers_what_the_cli_prints_as_json(api: str) -> None:
    statuses = get(f"{api}/images").json()
    assert [s["name"] for s in statuses] == ["alpha", "beta", "delta", "gamma"]
    # delta is looked at by serve's ticks (its resolution error may change between calls)
    steady = ("alpha", "beta", "gamma")
    listed = {s["name"]: s for s in cli_json("image", "list")}  # type: ignore[union-attr]
    assert {s["name"]: s for s in statuses if s["name"] in steady} == {
        name: listed[name] for name in steady
    }
    for name in steady:
        assert get(f"{api}/images/{name}").json() == cli_json("image", "status", name)
        assert get(f"{api}/images/{name}/builds").json() == cli_json("build", "list", name)
        assert get(f"{api}/images/{name}/builds/1").json() == cli_json(
            "build", "status", name, "-b", "1"
        )
    log = get(f"{api}/images/beta/builds/2/log")
    assert log.headers["content-type"] == "text/plain; charset=utf-8"
    assert log.text == "log of beta 2\n"


def test_the_status_says_builder_run_image_tag_kind_scan_and_signature(api: str) -> None:
    alpha = get(f"{api}/images/alpha").json()
    assert (alpha["status"], alpha["ready"]) == ("failed", "False")
    assert alpha["message"] == "build 2 failed: it broke"
    assert alpha["builder"] == BUILDER
    assert alpha["runImage"] == "run@sha256:r1"
    assert alpha["latestTag"] == "test/alpha:b1.20261203.120000"
    assert alpha["latestKind"] == "build"
    assert alpha["vulnerabilities"] == {
        "CRITICAL": 0,
        "HIGH": 2,
        "MEDIUM": 0,
        "LOW": 1,
        "UNKNOWN": 0,
    }
    assert alpha["signed"] is True
    beta = get(f"{api}/images/beta").json()
    assert (beta["status"], beta["latestKind"], beta["latestTag"]) == (
        "ready",
        "rebase",
        "test/beta:b2.20261203.120000",
    )
    assert beta["vulnerabilities"] is None and beta["signed"] is False
    gamma = get(f"{api}/images/gamma").json()
    assert (gamma["status"], gamma["message"]) == ("building", "build 2 is building")
    assert gamma["latestKind"] == "build"  # of the last successful build
    delta = get(f"{api}/images/delta").json()
    assert delta["status"] == "notready" and delta["latestTag"] == ""
    table = CliRunner().invoke(cli, ["image", "status", "alpha"]).output.splitlines()
    for key, value in (
        ("LatestTag", "test/alpha:b1.20261203.120000"),
        ("LatestKind", "REBUILD"),
        ("Run Image", "run@sha256:r1"),
        ("Vulnerabilities", "2 high, 1 low"),
        ("Signed", "yes"),
    ):
        assert f"{key + ':':<23}{value}" in table, (key, table)
    table = CliRunner().invoke(cli, ["image", "status", "beta"]).output.splitlines()
    assert f"{'LatestKind:':<23}REBASE" in table and not any("Vulnerabilities" in r for r in table)


def test_the_image_list_filters_by_status_and_sorts(api: str) -> None:
    def names(query: str) -> list[str]:
        return [s["name"] for s in get(f"{api}/images?{query}").json()]

    assert names("status=ready") == ["beta"]
    assert names("status=ready,building") == ["beta", "gamma"]
    assert names("status=failed&status=notready") == ["alpha", "delta"]
    assert names("sort=-name") == ["gamma", "delta", "beta", "alpha"]
    assert names("sort=status") == ["beta", "gamma", "alpha", "delta"]
    assert names("sort=-vulnerabilities&status=failed,ready") == ["alpha", "beta"]
    assert names("sort=latestKind&status=ready,failed") == ["alpha", "beta"]
    assert names("sort=-latestKind&status=ready,failed") == ["beta", "alpha"]


def test_malformed_values_are_400_naming_the_parameter(api: str) -> None:
    assert "status: 'bogus' is not one of ready, building, failed, notready" in error_of(
        get(f"{api}/images?status=ready,bogus"), 400
    )
    assert error_of(get(f"{api}/images?sort=size"), 400).startswith("sort: 'size' is not one")
    assert error_of(get(f"{api}/images?sort=--name"), 400).startswith("sort: '--name'")
    for number in ("abc", "0", "-1", "1.5", "1e3", "99999999999999999999999"):
        for tail in ("", "/log", "/log/stream"):
            message = error_of(get(f"{api}/images/alpha/builds/{number}{tail}"), 400)
            assert message.startswith("path parameter 'number': "), message
    stream = get(f"{api}/images/alpha/builds/1/log/stream", headers={"Last-Event-ID": "x"})
    assert error_of(stream, 400).startswith("Last-Event-ID: 'x' is not a byte offset")


def test_unknown_images_builds_and_pages_are_404(api: str, site: tuple[Path, Serve]) -> None:
    for path in ("", "/builds", "/builds/1", "/builds/1/log", "/builds/1/log/stream"):
        assert error_of(get(f"{api}/images/nosuch{path}"), 404) == "no image record 'nosuch'"
    for path in ("/builds/3", "/builds/3/log", "/builds/3/log/stream"):
        assert error_of(get(f"{api}/images/alpha{path}"), 404) == "image 'alpha' has no build 3"
    base = site[1].url
    assert error_of(get(f"{base}images/nosuch"), 404) == "no image record 'nosuch'"
    for path in ("nosuch", "api/v2/images", "static/nosuch.js", "images/alpha/extra"):
        assert error_of(get(base + path), 404)
    assert (
        error_of(
            requests.post(
                f"{api}/images/nosuch/trigger",
                timeout=30,
                headers={"Authorization": f"Bearer {TOKEN}"},
            ),
            404,
        )
        == "no image record 'nosuch'"
    )


def store_rows(home: Path) -> list[tuple[object, ...]]:
    with Store(home / "keep.db") as store:
        db = store._db
        return [
            tuple(row)
            for table in ("images", "builds", "logs")
            for row in db.execute(f"SELECT * FROM {table} ORDER BY 1")
        ]


def test_nothing_but_the_trigger_with_its_token_changes_anything(
    api: str, site: tuple[Path, Serve]
) -> None:
    home = site[0]
    quiet = [r for r in store_rows(home) if "delta" not in r]
    for method in ("put", "delete", "patch", "post"):
        for path in (
            "/images",
            "/images/beta",
            "/images/beta/builds",
            "/images/beta/builds/1",
            "/images/beta/builds/1/log",
        ):
            answer = requests.request(
                method, api + path, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert "is not allowed on" in error_of(answer, 405)
            assert answer.headers["allow"] == "GET"
    for method in ("get", "put", "delete"):
        answer = requests.request(
            method,
            f"{api}/images/beta/trigger",
            timeout=30,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.headers["allow"] == "POST" and error_of(answer, 405)
    refused = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
    ]
    for headers in refused:
        answer = requests.post(f"{api}/images/beta/trigger", headers=headers, timeout=30)
        assert error_of(answer, 401).startswith("refused: the trigger needs")
    answer = requests.post(f"{api}/images/beta/trigger?token={TOKEN}", timeout=30)
    assert error_of(answer, 401)
    time.sleep(1.5)  # a tick of serve: nothing was asked for
    assert [r for r in store_rows(home) if "delta" not in r] == quiet
    assert get(f"{api}/images/beta").json()["triggerRequested"] == ""
    answer = requests.post(
        f"{api}/images/beta/trigger", timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["image"] == "beta" and body["triggerRequested"].endswith("+0000")
    # the next tick looks at beta: its builder cannot be resolved, which it records
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        beta = get(f"{api}/images/beta").json()
        if beta["resolutionError"]:
            break
        time.sleep(0.2)
    assert "cannot read the builder nosuch/builder:1" in beta["resolutionError"]
    assert "beta: cannot resolve" in site[1].output()


def test_a_running_builds_log_streams_in_pieces_and_ends(
    api: str, site: tuple[Path, Serve]
) -> None:
    home = site[0]
    with Store(home / "keep.db") as store:
        image = spec("stream", home / "nosuch")
        store.add_image(image)
        finished(store, image, SUCCESS, "build", made("stream", 1))
        build_id = running(store, image)
    path = live_log_path(build_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["Build reason(s): TRIGGER", "===> BUILD", "step one", "", "step two ü", "done"]
    got: list[tuple[float, dict[str, str]]] = []
    url = f"{api}/images/stream/builds/2/log/stream"

    def read() -> None:
        with get(url, stream=True) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            for event in events(answer):
                got.append((time.monotonic(), event))

    reader = threading.Thread(target=read)
    with path.open("w", encoding="utf-8") as log:
        reader.start()
        for line in lines[:3]:
            log.write(line + "\n")
            log.flush()
            time.sleep(0.6)
        log.write("half a li")  # not sent until the line is whole
        log.flush()
        time.sleep(0.6)
        log.write("ne\n" + "\n".join(lines[3:]) + "\n")
    whole = path.read_bytes()
    with Store(home / "keep.db") as store:  # what the runner does when the build ends
        store.finish(build_id, status=SUCCESS, message="", result=made("stream", 2), log=whole)
    path.unlink()
    reader.join(timeout=30)
    assert not reader.is_alive()
    logs = [e for _t, e in got if e.get("event") == "log"]
    assert len(logs) >= 3, got  # in pieces, as written
    assert logs[0]["data"] == "Build reason(s): TRIGGER"
    assert all(int(e["id"]) > 0 for e in logs)
    assert [int(e["id"]) for e in logs] == sorted(int(e["id"]) for e in logs)
    assert int(logs[-1]["id"]) == len(whole)
    text = "".join(e["data"] + "\n" for e in logs)
    assert text == whole.decode()
    assert "half a line" in text.splitlines()
    assert got[-1][1] == {"event": "end", "data": json.dumps({"status": "success", "number": 2})}
    assert got[2][0] - got[0][0] > 0.5  # the pieces came while the build ran
    # Last-Event-ID: the rest after that offset, then the end
    after = logs[1]["id"]
    with get(url, stream=True, headers={"Last-Event-ID": after}) as answer:
        resumed = list(events(answer))
    rest = "".join(e["data"] + "\n" for e in resumed if e.get("event") == "log")
    assert rest == whole[int(after) :].decode()
    assert resumed[-1]["event"] == "end"
    assert get(f"{api}/images/stream/builds/2/log").text == whole.decode()


def test_the_openapi_document_is_valid_and_lists_every_route(api: str) -> None:
    document = get(f"{api}/openapi.json").json()
    validate(document)
    routes = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == {
        ("/api/v1/images", "get"),
        ("/api/v1/images/{name}", "get"),
        ("/api/v1/images/{name}/builds", "get"),
        ("/api/v1/images/{name}/builds/{number}", "get"),
        ("/api/v1/images/{name}/builds/{number}/log", "get"),
        ("/api/v1/images/{name}/builds/{number}/log/stream", "get"),
        ("/api/v1/images/{name}/trigger", "post"),
    }
    trigger = document["paths"]["/api/v1/images/{name}/trigger"]["post"]
    assert trigger["security"] and "202" in trigger["responses"]
    for url in ("docs", "redoc"):  # Swagger UI and ReDoc would load a CDN's assets
        assert get(f"{api.removesuffix('api/v1')}{url}").status_code == 404


def test_sigterm_stops_serve_with_an_open_stream_and_frees_the_port(
    tmp_path: Path, site: tuple[Path, Serve]
) -> None:
    serve = start_serve(site[0], tmp_path / "serve.log", "--no-poll")
    gamma = f"{serve.url}api/v1/images/gamma/builds/2/log/stream"
    with get(gamma, stream=True) as answer:  # gamma's build runs on: the stream stays open
        assert answer.status_code == 200
        started = time.monotonic()
        assert serve.stop(timeout=30) == 0, serve.output()
        assert time.monotonic() - started < 15
        list(answer.iter_lines())  # the server closed it
    assert port_is_free(serve.port)
    assert "Traceback" not in serve.output()


def run_serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "serve", *args],
        env=dict(os.environ, CNBSDK_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_bad_listen_value_is_a_one_line_error(tmp_path: Path, site: tuple[Path, Serve]) -> None:
    for value in ("nonsense", "127.0.0.1", "127.0.0.1:http", ":8765", "127.0.0.1:70000"):
        result = run_serve(tmp_path, "--listen", value)
        assert result.returncode != 0
        assert result.stderr.splitlines() == [
            f"error: --listen: {value!r} is not HOST:PORT (for example 127.0.0.1:8765, "
            "[::1]:8765, or port 0 for any free port)"
        ]
    in_use = f"127.0.0.1:{site[1].port}"
    result = run_serve(tmp_path, "--listen", in_use)
    assert result.returncode != 0
    assert result.stderr.splitlines() == [
        f"error: --listen: cannot listen on {in_use}: Address already in use"
    ]


def test_serve_prints_a_new_token_and_no_web_serves_no_page(tmp_path: Path) -> None:
    first = start_serve(tmp_path / "home", tmp_path / "one.log", "--no-poll", token=None)
    second = start_serve(tmp_path / "home", tmp_path / "two.log", "--no-poll", token=None)
    try:
        tokens = [s.output().split("trigger token: ")[1].split(")")[0] for s in (first, second)]
        assert tokens[0] != tokens[1] and all(len(t) == 32 for t in tokens)
    finally:
        assert first.stop() == 0 and second.stop() == 0
    log = tmp_path / "no-web.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cnbsdk.cli.main", "serve", "--no-web", "--no-poll"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, CNBSDK_HOME=str(tmp_path / "home")),
        )
    try:
        deadline = time.monotonic() + 30
        while "Serving:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
    assert "Serving: 0 image(s)" in log.read_text() and "Web:" not in log.read_text()


STATIC = Path(__file__).resolve().parents[3] / "cnbsdk" / "keep" / "web" / "static"
EXTERNAL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


def test_the_pages_hold_the_contracts_ids_and_load_nothing_from_elsewhere(
    site: tuple[Path, Serve],
) -> None:
    base = site[1].url
    images = get(base)
    image = get(f"{base}images/alpha")
    for page in (images, image):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for needed in (
        '<table id="images">',
        '<select id="status-filter">',
        'id="token"',
        'type="password"',
        '<div id="message" role="status"',
        'data-sort="name"',
    ):
        assert needed in images.text, needed
    for needed in (
        '<table id="builds">',
        '<ul id="buildpacks">',
        '<pre id="log"',
        '<nav id="phases"',
        'class="trigger"',
    ):
        assert needed in image.text, needed
    served = [images.text, image.text]
    for name in ("app.js", "app.css"):
        answer = get(f"{base}static/{name}")
        assert answer.status_code == 200
        served.append(answer.text)
    files = sorted(STATIC.iterdir())
    assert [f.name for f in files] == ["app.css", "app.js", "image.html", "index.html"]
    for text in served + [f.read_text() for f in files]:
        assert "http://" not in text and "https://" not in text
        assert not EXTERNAL.search(text), EXTERNAL.search(text)


def test_only_serve_with_the_web_loads_the_web_stack(tmp_path: Path) -> None:
    code = (
        "import sys, json\nfrom cnbsdk.cli.main import cli\n"
        "for argv in (['serve', '--help'], ['image', 'list']):\n"
        "    try:\n        cli.main(argv, prog_name='cnbsdk')\n"
        "    except SystemExit:\n        pass\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, CNBSDK_HOME=str(tmp_path)),
    )
    modules = set(json.loads(done.stdout.splitlines()[-1]))
    assert not {m.split(".")[0] for m in modules} & {"fastapi", "uvicorn", "starlette", "pydantic"}
