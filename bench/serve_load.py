"""``cnbsdk serve`` under load (issue 19): do web clients slow the builds down?

A temporary store holds ``--images`` (3) images built by the keep tests' tiny bash buildpack
(tests/keep/world.py: a local apt stack, no network), each printing ``--lines`` (20) log
lines 0.3 s apart, so a build takes several seconds and its log grows while it runs.
``cnbsdk serve --no-poll --jobs J`` runs in the background; its first (uncached) builds are
a warm-up. Then two phases of ``--seconds`` (60) each re-trigger every image whenever its
last build is done (``cnbsdk image trigger``, in this process: no HTTP):

1. quiet: no web client;
2. load: ``--clients`` (20) clients, each a pair of threads with its own ``requests``
   session: one streams the running build's log over SSE
   (``/api/v1/images/{name}/builds/{n}/log/stream``) until its ``end`` event, again and
   again; the other polls ``/api/v1/images`` every second.

Printed: each phase's builds with their durations (from the build records, ``seconds``),
every loaded build against its image's quiet median (goal: none slowed by more than 10 %),
the clients' requests and HTTP errors (goal: 0) and serve's resident memory sampled every
second from /proc (first, max, last; goal: flat). Threads, not asyncio: the clients are
blocking ``requests`` calls, which is how most scripts would read the API.

    .venv/bin/python bench/serve_load.py
    .venv/bin/python bench/serve_load.py --seconds 20 --clients 5   # a quick look
    .venv/bin/python bench/serve_load.py --quiet-seconds 60 --seconds 600   # memory over time
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnbsdk.keep.store import Store  # noqa: E402
from tests.keep.web.live_site import Site, start_site, wait_for  # noqa: E402
from tests.keep.world import BUILDER, ok  # noqa: E402


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, requests: int = 0, events: int = 0, error: str = "") -> None:
        with self.lock:
            self.requests += requests
            self.events += events
            if error:
                self.errors.append(error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--lines", type=int, default=20, help="Log lines per build, 0.3 s apart.")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of each phase.")
    parser.add_argument(
        "--quiet-seconds", type=float, help="Length of the quiet phase (default: --seconds)."
    )
    parser.add_argument("--jobs", type=int, default=1, help="serve's builds at once.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cnbsdk-bench-serve-"))
    site: Site | None = None
    try:
        print(f"{root}: the stack, the builder, serve and {args.images} images...", flush=True)
        site = start_site(root, "--jobs", str(args.jobs))
        os.environ["CNBSDK_HOME"] = str(site.world.home)
        os.environ.pop("SOURCE_DATE_EPOCH", None)
        names = [f"app-{i}" for i in range(args.images)]
        for name in names:
            app = root / name
            app.mkdir()
            (app / "hello.txt").write_text(f"{name}\n")
            (app / "lines.txt").write_text(f"{args.lines}\n")
            ok("image", "create", name, "--tag", f"bench/{name}", "--local-path", str(app),
               "--builder", BUILDER)  # fmt: skip
        pid = site.serve.process.pid
        print(f"serve: {site.url} (pid {pid}, --jobs {args.jobs})", flush=True)
        started = time.monotonic()
        for name in names:
            wait_for(lambda n=name: site.finished(n), f"{name}'s first build", timeout=600)
        print(f"warm-up: first builds done in {time.monotonic() - started:.1f} s", flush=True)

        quiet = phase(site, names, args.quiet_seconds or args.seconds, clients=0)
        load = phase(site, names, args.seconds, clients=args.clients)
        report(quiet, load, args.clients)
    finally:
        if site is not None:
            site.serve.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Phase:
    name: str
    builds: dict[str, list[float]]  # image -> seconds of each build run in the phase
    failed: int
    rss_kb: list[int]
    counters: Counters
    seconds: float


def phase(site: Site, names: list[str], seconds: float, clients: int) -> Phase:
    """Re-trigger each image whenever its last build is done, for ``seconds``; with
    ``clients`` streaming and polling until the last of those builds has ended."""
    label = f"load ({clients} clients)" if clients else "quiet"
    print(f"{label}: {seconds:g} s...", flush=True)
    first = {name: site.builds(name)[-1]["number"] for name in names}
    stopping = threading.Event()
    counters = Counters()
    rss: list[int] = []
    threads = [threading.Thread(target=sample_rss, args=(site.serve.process.pid, rss, stopping))]
    for index in range(clients):
        name = names[index % len(names)]
        threads.append(threading.Thread(target=stream_logs, args=(site, name, counters, stopping)))
        threads.append(threading.Thread(target=poll_list, args=(site, counters, stopping)))
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            for name in names:
                if ended(name):
                    ok("image", "trigger", name)
            time.sleep(0.5)
        for name in names:
            wait_for(lambda n=name: ended(n), f"{name}'s last build", timeout=600)
    finally:
        elapsed = time.monotonic() - started
        stopping.set()
        for thread in threads:
            thread.join(timeout=30)
    builds: dict[str, list[float]] = {}
    failed = 0
    for name in names:
        for build in site.builds(name):
            if build["number"] <= first[name]:
                continue
            if build["status"] == "success":
                builds.setdefault(name, []).append(float(build["result"]["seconds"]))
            else:
                failed += 1
    return Phase(label, builds, failed, rss, counters, elapsed)


def ended(name: str) -> bool:
    """Whether ``name``'s latest build has ended, read from the store (not over HTTP)."""
    with Store() as store:
        builds = store.builds(name)
    return bool(builds) and builds[-1].status in ("success", "failure")


def sample_rss(pid: int, samples: list[int], stopping: threading.Event) -> None:
    """serve's VmRSS (kB) from /proc, every second."""
    while not stopping.is_set():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                samples.append(int(line.split()[1]))
        stopping.wait(1.0)


def stream_logs(site: Site, name: str, counters: Counters, stopping: threading.Event) -> None:
    """Follow ``name``'s latest build's log over SSE to its ``end`` event, again and again
    (a second's pause when the build had already ended)."""
    session = requests.Session()
    while not stopping.is_set():
        try:
            number = session.get(f"{site.url}api/v1/images/{name}", timeout=30).json()[
                "buildCounter"
            ]
            counters.add(requests=1)
            url = f"{site.url}api/v1/images/{name}/builds/{number}/log/stream"
            began = time.monotonic()
            ended = False
            with session.get(url, stream=True, timeout=60) as response:
                counters.add(requests=1)
                if response.status_code != 200:
                    counters.add(error=f"{url}: HTTP {response.status_code}")
                    stopping.wait(1.0)
                    continue
                for line in response.iter_lines(chunk_size=256, decode_unicode=True):
                    if line.startswith("event:"):
                        counters.add(events=1)
                        ended = line == "event: end"
                    if stopping.is_set():
                        break
            if not ended and not stopping.is_set():
                counters.add(error=f"{url}: the stream closed without its end event")
            if time.monotonic() - began < 1.0:
                stopping.wait(1.0)
        except requests.RequestException as error:
            counters.add(error=f"{name} log stream: {error}")
            stopping.wait(1.0)


def poll_list(site: Site, counters: Counters, stopping: threading.Event) -> None:
    session = requests.Session()
    while not stopping.is_set():
        began = time.monotonic()
        try:
            response = session.get(f"{site.url}api/v1/images", timeout=30)
            counters.add(requests=1)
            if response.status_code != 200 or not isinstance(response.json(), list):
                counters.add(error=f"/api/v1/images: HTTP {response.status_code}")
        except (requests.RequestException, ValueError) as error:
            counters.add(error=f"/api/v1/images: {error}")
        stopping.wait(max(0.0, 1.0 - (time.monotonic() - began)))


def report(quiet: Phase, load: Phase, clients: int) -> None:
    print()
    for p in (quiet, load):
        count = sum(len(v) for v in p.builds.values())
        every = [s for v in p.builds.values() for s in v]
        print(
            f"{p.name}: {count} builds in {p.seconds:.0f} s ({p.failed} failed); build seconds "
            f"median {statistics.median(every):.2f}, min {min(every):.2f}, max {max(every):.2f}"
        )
        for name, values in sorted(p.builds.items()):
            print(f"  {name}: " + " ".join(f"{v:.2f}" for v in values))
        first, top, last = p.rss_kb[0], max(p.rss_kb), p.rss_kb[-1]
        print(
            f"  serve RSS: first {first / 1024:.1f} MB, max {top / 1024:.1f} MB, "
            f"last {last / 1024:.1f} MB ({len(p.rss_kb)} samples); every 10 s: "
            + " ".join(f"{kb / 1024:.1f}" for kb in p.rss_kb[::10])
        )
    ratios = [
        seconds / statistics.median(quiet.builds[name])
        for name, values in load.builds.items()
        for seconds in values
        if quiet.builds.get(name)
    ]
    slowed = [r for r in ratios if r > 1.10]
    print(
        f"loaded build / its image's quiet median: median {statistics.median(ratios):.3f}, "
        f"max {max(ratios):.3f}; slowed by more than 10 %: {len(slowed)} of {len(ratios)} "
        "(goal: 0)"
    )
    c = load.counters
    print(
        f"clients: {clients} x (SSE log stream + /api/v1/images every second): "
        f"{c.requests} requests, {c.events} SSE events; HTTP errors: {len(c.errors)} (goal: 0)"
    )
    for error in c.errors[:10]:
        print(f"  {error}")


if __name__ == "__main__":
    main()
