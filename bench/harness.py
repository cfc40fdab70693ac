"""Harness benchmark: one ``cnb_build`` build + start + HTTP request of the tutorial app
(examples/hello, its ``http`` process), and the share of it spent outside the buildpack's
own code.

The DETECTING and BUILDING phases run the buildpack's ``bin/detect`` and ``bin/build``: a
sandbox start for each, cnbsdk's Python runtime, then the hooks (here mostly gcc compiling
hello-server). To separate the author's code from cnbsdk's part of those phases, the same
app is also built with a no-op plugin buildpack: its DETECTING+BUILDING time is the floor
every Python buildpack pays (sandbox + runtime), and "the buildpack's own code" is the
tutorial's DETECTING+BUILDING minus that floor. Everything else — preparing the workspace,
analyze, restore, export, the harness reading the image back, unpacking and starting the
image, waiting for the port, the request — is cnbsdk's. Runs a cold build (new cache) then a
warm rebuild, ``--runs`` times each (best shown). The default stack must exist already (any
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
NOOP_TOML = 'api = "0.10"\n[buildpack]\nid = "bench/noop"\nversion = "0.0.1"\n'
NOOP_CODE = """from cnbsdk.buildpack import BuildResult, DetectResult, Process, hookimpl


@hookimpl
def detect(context):
    return DetectResult.passed()


@hookimpl
def build(context):
    return BuildResult(processes=[Process("web", ["true"], default=True)])
"""


@dataclass(frozen=True)
class Sample:
    total: float
    build: float
    in_phases: float  # DETECTING + BUILDING: sandbox, runtime and hooks
    floor: float  # the same phases for a no-op Python buildpack
    start: float
    request: float

    @property
    def own_code(self) -> float:
        return max(0.0, self.in_phases - self.floor)

    @property
    def outside(self) -> float:
        return self.total - self.own_code


def phase_seconds(run: ImageBuildResult) -> float:
    assert run.created is not None
    return sum(t.seconds for t in run.created.timings if t.phase in BUILDPACK_PHASES)


def timed(run: ImageBuildResult, started_at: float, built_at: float, floor: float) -> Sample:
    in_phases = phase_seconds(run)
    t0 = time.monotonic()
    app = run.start("http")
    t1 = time.monotonic()
    body = app.get("/").body
    t2 = time.monotonic()
    app.stop()
    assert body.startswith("Hello, world!"), body
    return Sample(t2 - started_at, built_at - started_at, in_phases, floor, t1 - t0, t2 - t1)


def report(name: str, samples: list[Sample]) -> None:
    best = min(samples, key=lambda s: s.total)
    share = best.outside / best.total * 100
    print(
        f"{name:<8} total {best.total:5.2f}s  build {best.build:5.2f}s  detect+build phases "
        f"{best.in_phases:5.2f}s (no-op floor {best.floor:4.2f}s, the buildpack's own code "
        f"{best.own_code:4.2f}s)  start {best.start:4.2f}s  request {best.request * 1000:4.1f}ms"
        f"  outside the buildpack's code {best.outside:5.2f}s = {share:4.1f}%"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    default_stack()  # created once, not timed
    cold: list[Sample] = []
    warm: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-harness-") as tmp:
        noop = Path(tmp) / "noop_bp"
        noop.mkdir()
        (noop / "buildpack.toml").write_text(NOOP_TOML)
        (noop / "__init__.py").write_text(NOOP_CODE)
        for number in range(args.runs):
            harness = ImageHarness(Path(tmp) / f"run-{number}")
            try:
                noop_first = harness(APP, [noop])
                floors = (phase_seconds(noop_first), phase_seconds(noop_first.rebuild()))
                t0 = time.monotonic()
                first = harness(APP, [BUILDPACK])
                cold.append(timed(first, t0, time.monotonic(), floors[0]))
                t0 = time.monotonic()
                again = first.rebuild()
                warm.append(timed(again, t0, time.monotonic(), floors[1]))
            finally:
                harness.stop_all()
    print(f"one harness build + start + request of the tutorial app, best of {args.runs}:")
    report("first", cold)
    report("rebuild", warm)


if __name__ == "__main__":
    main()
