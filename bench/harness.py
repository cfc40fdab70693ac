"""Harness benchmark: one ``cnb_build`` build + start + HTTP request of the tutorial app
(examples/hello, its ``http`` process), and the share of it spent outside the buildpack's
own code.

"The buildpack's own code" is the time its ``bin/detect`` and ``bin/build`` ran (the
DETECTING and BUILDING phases: the sandbox start for each, the Python runtime and the hooks,
here mostly gcc compiling hello-server); everything else — preparing the workspace, analyze,
restore, export, the harness reading the image back, unpacking and starting the image,
waiting for the port, the request — is cnbsdk's. Runs a cold build (new cache) then a warm
rebuild, ``--runs`` times each (best shown). The default stack must exist already (any
earlier build creates it; that is not timed). Goal (issue 12): most of a small app's time is
spent in the buildpack.

    .venv/bin/python bench/harness.py
    .venv/bin/python bench/harness.py --runs 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnbsdk.lifecycle.default_stack import default_stack  # noqa: E402
from cnbsdk.testing.image_build import ImageBuildResult, ImageHarness  # noqa: E402

APP = {"hello.txt": "This app was built by your first buildpack.\n"}
BUILDPACK = "examples/hello"
BUILDPACK_PHASES = ("DETECTING", "BUILDING")


@dataclass(frozen=True)
class Sample:
    total: float
    build: float
    in_buildpack: float
    start: float
    request: float

    @property
    def outside(self) -> float:
        return self.total - self.in_buildpack


def timed(run: ImageBuildResult, started_at: float, built_at: float) -> Sample:
    assert run.created is not None
    in_buildpack = sum(t.seconds for t in run.created.timings if t.phase in BUILDPACK_PHASES)
    t0 = time.monotonic()
    app = run.start("http")
    t1 = time.monotonic()
    body = app.get("/").body
    t2 = time.monotonic()
    app.stop()
    assert body.startswith("Hello, world!"), body
    return Sample(t2 - started_at, built_at - started_at, in_buildpack, t1 - t0, t2 - t1)


def report(name: str, samples: list[Sample]) -> None:
    best = min(samples, key=lambda s: s.total)
    share = best.outside / best.total * 100
    print(
        f"{name:<8} total {best.total:6.2f}s  build {best.build:5.2f}s  "
        f"(buildpack {best.in_buildpack:5.2f}s)  start {best.start:5.2f}s  "
        f"request {best.request * 1000:5.1f}ms  outside the buildpack {best.outside:5.2f}s "
        f"= {share:4.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    default_stack()  # created once, not timed
    cold: list[Sample] = []
    warm: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-harness-") as tmp:
        for number in range(args.runs):
            harness = ImageHarness(Path(tmp) / f"run-{number}")
            try:
                t0 = time.monotonic()
                first = harness(APP, [BUILDPACK])
                cold.append(timed(first, t0, time.monotonic()))
                t0 = time.monotonic()
                again = first.rebuild()
                warm.append(timed(again, t0, time.monotonic()))
            finally:
                harness.stop_all()
    print(f"one harness build + start + request of the tutorial app, best of {args.runs}:")
    report("first", cold)
    report("rebuild", warm)


if __name__ == "__main__":
    main()
