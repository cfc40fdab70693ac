"""Harness benchmark: one ``cnb_build`` build + start + HTTP request of the tutorial app
(examples/hello, its ``http`` process), where each part of that time goes, and the share of
it spent outside the buildpack's own code.

The DETECTING and BUILDING phases run the buildpack's ``bin/detect`` and ``bin/build``: a
sandbox start for each, cnbsdk's Python runtime, then the hooks (the first build compiles
hello-server with gcc). To separate the author's code from cnbsdk's part of those phases, the
same app is also built with a no-op plugin buildpack: its DETECTING+BUILDING time is the
floor every Python buildpack pays (sandbox + runtime), and "the buildpack's own code" is the
tutorial's DETECTING+BUILDING minus that floor. Everything else — preparing the workspace,
analyze, restore, export, cleaning up, the harness reading the image back, starting the image,
waiting for the port, the request — is cnbsdk's.

Both are measured twice: ``with`` cnbsdk as it is, and ``without`` the speed-ups of issue 12
point 5 that can be switched off from outside (plugin buildpacks packaged on every build, no
compiled lib/ for the sandboxed phases, the port polled every 50 ms). Then the fixed costs
left are measured on their own: a bubblewrap start in the build image, ``python3`` starting
there, and a no-op buildpack's ``bin/detect`` (sandbox + python3 + cnbsdk's runtime).
The default stack must exist already (any earlier build creates it; that is not timed).

    .venv/bin/python bench/harness.py
    .venv/bin/python bench/harness.py --runs 5
    .venv/bin/python bench/harness.py --app all   # also the Express sample with cnbsdk/node

The tutorial's hooks run for a few milliseconds, so its build is mostly the fixed costs. The
Express case shows the same split for a real language buildpack on a small app (npm installs
Express; Node.js comes from the shared download cache, filled by an untimed first build).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnbsdk.distribution import package_cache, vendor  # noqa: E402
from cnbsdk.distribution.buildpack_dir import package_buildpack_dir  # noqa: E402
from cnbsdk.lifecycle import bytecode_cache  # noqa: E402
from cnbsdk.lifecycle.default_stack import default_stack  # noqa: E402
from cnbsdk.lifecycle.detect import SandboxDetectRunner  # noqa: E402
from cnbsdk.lifecycle.order import BuildpackIndex, expand_order  # noqa: E402
from cnbsdk.lifecycle.rootfs import unpacked_rootfs  # noqa: E402
from cnbsdk.lifecycle.sandbox import BubblewrapRunner  # noqa: E402
from cnbsdk.lifecycle.workspace import Workspace  # noqa: E402
from cnbsdk.spec.ids import BuildpackId  # noqa: E402
from cnbsdk.spec.order import GroupEntry, OrderGroup  # noqa: E402
from cnbsdk.testing import started_app  # noqa: E402
from cnbsdk.testing.image_build import ImageBuildResult, ImageHarness  # noqa: E402


@dataclass(frozen=True)
class AppCase:
    """An app, the buildpack that builds it, the process to start and what it answers."""

    name: str
    app: dict[str, str] | Path
    buildpack: str
    process: str | None
    answer: str


TUTORIAL = AppCase(
    "the tutorial app (examples/hello)",
    {"hello.txt": "This app was built by your first buildpack.\n"},
    "examples/hello",
    "http",
    "Hello, world!",
)
# A real language buildpack on a small app: npm installs Express, Node.js comes from the
# shared download cache (the first run of all downloads it once, not timed).
EXPRESS = AppCase(
    "the Express sample (examples/apps/express-app) with cnbsdk/node",
    REPO / "examples" / "apps" / "express-app",
    "cnbsdk/node",
    None,
    "Hello from Express",
)
CASES = {"tutorial": TUTORIAL, "express": EXPRESS}
BUILDPACK_PHASES = ("DETECTING", "BUILDING")
SHOWN_PHASES = ("PREPARING", "ANALYZING", "DETECTING", "RESTORING", "BUILDING", "EXPORTING")
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
    phases: dict[str, float]
    floor: float  # DETECTING + BUILDING of a no-op Python buildpack
    start: float
    request: float

    @property
    def in_phases(self) -> float:  # DETECTING + BUILDING: sandbox, runtime and hooks
        return sum(self.phases.get(name, 0.0) for name in BUILDPACK_PHASES)


def phase_times(run: ImageBuildResult) -> dict[str, float]:
    assert run.created is not None
    times: dict[str, float] = {}
    for timing in run.created.timings:
        times[timing.phase] = times.get(timing.phase, 0.0) + timing.seconds
    return times


def floor_of(run: ImageBuildResult) -> float:
    times = phase_times(run)
    return sum(times.get(name, 0.0) for name in BUILDPACK_PHASES)


def timed(
    case: AppCase, run: ImageBuildResult, started_at: float, built_at: float, floor: float
) -> Sample:
    t0 = time.monotonic()
    app = run.start(case.process)
    t1 = time.monotonic()
    body = app.get("/").body
    t2 = time.monotonic()
    app.stop()
    assert body.startswith(case.answer), body
    return Sample(t2 - started_at, built_at - started_at, phase_times(run), floor, t1 - t0, t2 - t1)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:4.0f}"


def report(name: str, samples: list[Sample]) -> Sample:
    """The best run (least total), its phases, and the buildpack's own code computed from the
    least DETECTING+BUILDING of the tutorial and of the no-op buildpack over all runs (both
    best cases, so noise from other work on the machine cancels as far as it can)."""
    best = min(samples, key=lambda s: s.total)
    floor = min(s.floor for s in samples)
    in_phases = min(s.in_phases for s in samples)
    own = max(0.0, in_phases - floor)
    outside = best.total - own
    print(
        f"  {name:<8} total {ms(best.total)} ms = build {ms(best.build)} + start {ms(best.start)}"
        f" + request {best.request * 1000:3.1f};  the buildpack's own code {ms(own)} ms"
        f" (DETECTING+BUILDING {ms(in_phases)} - the same for a no-op buildpack {ms(floor)});"
        f"  outside it {ms(outside)} ms = {outside / best.total * 100:4.1f}%"
    )
    shown = {name: best.phases.get(name, 0.0) for name in SHOWN_PHASES}
    shown["CLEANING UP"] = best.phases.get("CLEANING UP", 0.0)
    harness = best.build - sum(best.phases.values())
    parts = "  ".join(f"{phase.lower()} {ms(seconds).strip()}" for phase, seconds in shown.items())
    print(f"           ms: {parts}  harness {ms(harness).strip()}  start {ms(best.start).strip()}")
    return best


@contextmanager
def without_speedups() -> Iterator[None]:
    """Switch off what can be switched off from outside: the cache of packaged plugins (each
    build packages and verifies again), the compiled lib/ of the sandboxed phases, the short
    port polls. (The runtime's lighter imports are in the packaged code and stay.)"""

    def package_every_time(source: str, into: Path, **_: object) -> object:
        vendor._packages_distributions.cache_clear()  # read on every packaging, as before
        packaged = package_buildpack_dir(source, into)
        return package_cache.CachedPackage(packaged, "") if packaged.plugin_ref else None

    saved = (
        package_cache.packaged_plugin,
        bytecode_cache.understands_cache,
        started_app.POLL_FIRST,
    )
    package_cache.packaged_plugin = package_every_time  # type: ignore[assignment]
    bytecode_cache.understands_cache = lambda _directory: False
    started_app.POLL_FIRST = 0.05
    try:
        yield
    finally:
        (
            package_cache.packaged_plugin,
            bytecode_cache.understands_cache,
            started_app.POLL_FIRST,
        ) = saved


def measure(case: AppCase, tmp: Path, runs: int, label: str) -> tuple[Sample, Sample]:
    noop = tmp / "noop_bp"
    if not noop.is_dir():
        noop.mkdir()
        (noop / "buildpack.toml").write_text(NOOP_TOML)
        (noop / "__init__.py").write_text(NOOP_CODE)
    cold: list[Sample] = []
    warm: list[Sample] = []
    for number in range(runs):
        harness = ImageHarness(tmp / f"{label.split()[0]}-{number}")
        try:
            noop_first = harness(TUTORIAL.app, [noop])
            floors = (floor_of(noop_first), floor_of(noop_first.rebuild()))
            t0 = time.monotonic()
            first = harness(case.app, [case.buildpack])
            cold.append(timed(case, first, t0, time.monotonic(), floors[0]))
            t0 = time.monotonic()
            again = first.rebuild()
            warm.append(timed(case, again, t0, time.monotonic(), floors[1]))
        finally:
            harness.stop_all()
    print(f"{label} (best of {runs}):")
    return report("first", cold), report("rebuild", warm)


def fixed_costs(tmp: Path, repeats: int = 25) -> None:
    """What every sandboxed phase of a Python buildpack pays, measured on its own: a sandbox
    start, python3 starting, and a no-op plugin's whole bin/detect (with and without its
    compiled lib/)."""
    image = unpacked_rootfs(default_stack().build_image)
    workspace = Workspace.create(tmp / "fixed")
    home = workspace.buildpacks / "bench_noop" / "0.0.1"
    package_buildpack_dir(str(tmp / "noop_bp"), home)
    index = BuildpackIndex.from_directories([home])
    [group] = expand_order((OrderGroup((GroupEntry(id=BuildpackId("bench/noop")),)),), index)
    uid, gid = image.user_ids

    def best_ms(run: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            t0 = time.monotonic()
            run()
            times.append(time.monotonic() - t0)
        return min(times) * 1000

    def program(*argv: str) -> Callable[[], object]:
        return lambda: runner.run(list(argv), cwd="/", env=env)

    def detect(bytecode: bool) -> float:
        runner = BubblewrapRunner(image.rootfs, workspace, uid=uid, gid=gid, bytecode=bytecode)
        detector = SandboxDetectRunner(runner, workspace, base_env=env)
        return best_ms(lambda: detector(group[0]))

    runner = BubblewrapRunner(image.rootfs, workspace, uid=uid, gid=gid)
    env = runner.base_env(image.config.env_dict())
    bwrap = best_ms(program("/bin/true"))
    python = best_ms(program("python3", "-c", "pass"))
    with_lib, without_lib = detect(True), detect(False)
    print(
        f"fixed costs of one sandboxed phase (best of {repeats}): bubblewrap starting the"
        f" sandbox {bwrap:.0f} ms; python3 starting in it {python - bwrap:.0f} ms more; a no-op"
        f" plugin buildpack's whole bin/detect {with_lib:.0f} ms ({without_lib:.0f} ms without"
        f" its compiled lib/), of which cnbsdk's runtime (imports, reading the inputs, writing"
        f" the plan) {with_lib - python:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--app",
        choices=[*sorted(CASES), "all"],
        default="tutorial",
        help="tutorial (default); express needs the npm registry the host's npm uses",
    )
    args = parser.parse_args()
    default_stack()  # created once, not timed
    cases = list(CASES.values()) if args.app == "all" else [CASES[args.app]]
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-harness-") as name:
        tmp = Path(name)
        for case in cases:
            print(f"one harness build + start + request of {case.name}")
            if case is TUTORIAL:
                with without_speedups():
                    measure(case, tmp, args.runs, "without the speed-ups")
            else:  # the first build of all downloads the runtime into the shared cache
                ImageHarness(tmp / "warm-up")(case.app, [case.buildpack]).harness.stop_all()
            measure(case, tmp, args.runs, "with them" if case is TUTORIAL else "timed")
        fixed_costs(tmp)


if __name__ == "__main__":
    main()
