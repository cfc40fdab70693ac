"""The detect phase (buildpack.md §Phase #1, platform.md §detector, digest §2): run each
group's ``bin/detect``s, resolve the group's build plan, and pick the first group that passes.

Everything tried is kept in a ``DetectReport`` — every group, every buildpack's verdict with
its output and the reason it counted as it did — so that "no buildpack groups passed
detection" always comes with a why. Running one buildpack is injected (``DetectRunner``):
``SandboxDetectRunner`` runs ``<bp>/bin/detect`` through a ``Runner``: in the build image
(``BubblewrapRunner``) or on the host (``HostRunner``).

A group fails when a required buildpack fails or errors, when no buildpack passes, or when
no build plan resolves; otherwise its passing buildpacks that fit the plan form the selected
group. When every group fails the detector's exit status is 20, or 21 if a group failed
because a buildpack errored (lifecycle ``ErrBuildpack``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle.build_env import cnb_inputs, detect_env, filtered_base_env
from cnbsdk.lifecycle.order import ExpandedGroup, GroupElement
from cnbsdk.lifecycle.plan import PlanUnresolved, ResolvedPlan, resolve_plan
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.platform_files import GroupToml, PlatformPlan
from cnbsdk.spec.target import Target

if TYPE_CHECKING:
    from cnbsdk.lifecycle.sandbox import Runner
    from cnbsdk.lifecycle.workspace import Workspace

DETECT_PASS = 0
DETECT_FAIL = 100
# platform.md §detector: every group failed cleanly / at least one buildpack errored.
EXIT_NO_GROUP_PASSED = 20
EXIT_BUILDPACK_ERRORED = 21

PASS, FAIL, ERROR = "pass", "fail", "error"
SKIPPED, DROPPED = "skipped", "dropped"


@dataclass(frozen=True)
class DetectVerdict:
    """What one ``bin/detect`` run gave: its exit code, its output (stdout and stderr
    interleaved), the build plan it wrote, and ``error`` when the run itself went wrong
    (no executable, a malformed plan...) even though the exit code said otherwise.
    """

    exit_code: int
    output: str = ""
    plan: BuildPlan | None = None
    error: str = ""

    @property
    def status(self) -> str:
        """``pass`` (exit 0), ``fail`` (exit 100) or ``error`` (anything else)."""
        if self.error:
            return ERROR
        if self.exit_code == DETECT_PASS:
            return PASS
        if self.exit_code == DETECT_FAIL:
            return FAIL
        return ERROR

    @property
    def description(self) -> str:
        if self.error:
            return self.error
        if self.status == PASS:
            return "passed"
        if self.status == FAIL:
            return "failed (exit 100)"
        return f"errored (exit {self.exit_code})"


DetectRunner = Callable[[GroupElement], DetectVerdict]


@dataclass(frozen=True)
class BuildpackVerdict:
    """One buildpack's line in a group's report: its verdict and what it meant here.

    ``outcome`` is ``pass``, ``fail``, ``error``, ``skipped`` (optional and did not pass) or
    ``dropped`` (optional, passed, but left out by plan resolution); ``reason`` says why.
    """

    element: GroupElement
    verdict: DetectVerdict
    outcome: str
    reason: str


@dataclass(frozen=True)
class GroupAttempt:
    """One group tried: its buildpacks' verdicts and whether (and why not) it passed."""

    number: int
    elements: ExpandedGroup
    verdicts: tuple[BuildpackVerdict, ...]
    plan: ResolvedPlan | None
    reason: str
    errored: bool = False

    @property
    def passed(self) -> bool:
        return self.plan is not None


@dataclass(frozen=True)
class DetectReport:
    """Every group tried, in order; the last one is the selected group if detection passed."""

    attempts: tuple[GroupAttempt, ...]

    @property
    def selected(self) -> GroupAttempt | None:
        last = self.attempts[-1] if self.attempts else None
        return last if last is not None and last.passed else None

    @property
    def passed(self) -> bool:
        return self.selected is not None

    @property
    def exit_code(self) -> int:
        """0 when a group passed, else the detector's 20 (all failed cleanly) or 21."""
        if self.passed:
            return 0
        if any(attempt.errored for attempt in self.attempts):
            return EXIT_BUILDPACK_ERRORED
        return EXIT_NO_GROUP_PASSED

    @property
    def plan(self) -> ResolvedPlan:
        selected = self.selected
        if selected is None or selected.plan is None:
            raise DetectionFailed(self)
        return selected.plan

    def group_toml(self) -> GroupToml:
        return self.plan.group_toml()

    def platform_plan(self) -> PlatformPlan:
        return self.plan.platform_plan()

    def summary(self) -> str:
        """One line: the selected group, or why each group failed."""
        if not self.attempts:
            return "No buildpack groups passed detection: the order is empty"
        selected = self.selected
        if selected is not None and selected.plan is not None:
            names = ", ".join(str(e) for e in selected.plan.group)
            return f"group {selected.number} of {len(self.attempts)} tried passed: {names}"
        reasons = "; ".join(f"group {a.number}: {a.reason}" for a in self.attempts[:3])
        more = len(self.attempts) - 3
        if more > 0:
            reasons += f"; and {more} more"
        return f"No buildpack groups passed detection ({reasons})"


class DetectionFailed(BuildError):
    """No group passed; ``report`` says why for each group, ``exit_code`` is 20 or 21."""

    def __init__(self, report: DetectReport) -> None:
        self.report = report
        self.exit_code = report.exit_code
        super().__init__(report.summary())


def detect(groups: Sequence[ExpandedGroup], runner: DetectRunner) -> DetectReport:
    """Try the groups in order and stop at the first that passes.

    Each buildpack runs at most once (its verdict is reused by later groups, as the
    lifecycle does). Never raises for a failed detection: look at ``report.passed``, or
    call ``detect_or_fail``.
    """
    verdicts: dict[GroupElement, DetectVerdict] = {}
    attempts: list[GroupAttempt] = []
    for number, group in enumerate(groups, start=1):
        for element in group:
            key = _cache_key(element)
            if key not in verdicts:
                verdicts[key] = _run(runner, element)
        attempt = _judge(number, group, [verdicts[_cache_key(e)] for e in group])
        attempts.append(attempt)
        if attempt.passed:
            break
    return DetectReport(tuple(attempts))


def detect_or_fail(groups: Sequence[ExpandedGroup], runner: DetectRunner) -> DetectReport:
    """``detect``, raising ``DetectionFailed`` (with the report) when no group passed."""
    report = detect(groups, runner)
    if not report.passed:
        raise DetectionFailed(report)
    return report


def _cache_key(element: GroupElement) -> GroupElement:
    return GroupElement(element.id, element.version)


def _run(runner: DetectRunner, element: GroupElement) -> DetectVerdict:
    try:
        return runner(element)
    except CnbError as error:
        return DetectVerdict(exit_code=-1, error=str(error))


def _judge(number: int, group: ExpandedGroup, run: Sequence[DetectVerdict]) -> GroupAttempt:
    lines: list[BuildpackVerdict] = []
    failures: list[str] = []
    any_error = False
    for element, verdict in zip(group, run, strict=True):
        status = verdict.status
        any_error = any_error or status == ERROR
        if status == PASS:
            lines.append(BuildpackVerdict(element, verdict, PASS, _plan_summary(verdict.plan)))
        elif element.optional:
            reason = f"optional, and detect {verdict.description}"
            lines.append(BuildpackVerdict(element, verdict, SKIPPED, reason))
        else:
            lines.append(BuildpackVerdict(element, verdict, status, verdict.description))
            failures.append(f"{element} {verdict.description}")
    if failures:
        # LC Resolve: a required buildpack did not pass; it is "errored" if any did.
        reason = "required buildpack " + "; ".join(failures)
        return GroupAttempt(number, group, tuple(lines), None, reason, errored=any_error)
    passing = [(line.element, line.verdict.plan) for line in lines if line.outcome == PASS]
    if not passing:
        return GroupAttempt(number, group, tuple(lines), None, "no buildpack passed detection")
    try:
        plan = resolve_plan(passing)
    except PlanUnresolved as error:
        return GroupAttempt(number, group, tuple(lines), None, error.message)
    dropped = {d.element: d.reason for d in plan.dropped}
    lines = [
        BuildpackVerdict(
            line.element, line.verdict, DROPPED, f"optional, and {dropped[line.element]}"
        )
        if line.element in dropped
        else line
        for line in lines
    ]
    return GroupAttempt(number, group, tuple(lines), plan, "passed")


def _plan_summary(plan: BuildPlan | None) -> str:
    if plan is None:
        return "passed"
    parts = []
    for index, option in enumerate(plan.options):
        provides = ", ".join(p.name for p in option.provides) or "nothing"
        requires = ", ".join(r.name for r in option.requires) or "nothing"
        if option.provides or option.requires or index:
            parts.append(f"provides {provides}, requires {requires}")
    if not parts:
        return "passed"
    return "passed: " + " | or: ".join(parts)


# -- running bin/detect through a Runner (the sandbox) ----------------------------------------


class SandboxDetectRunner:
    """Runs ``<bp>/bin/detect`` through a ``Runner`` (``BubblewrapRunner`` or ``HostRunner``)
    as the lifecycle does (``buildpack/detect.go``): cwd = app, the filtered env plus platform
    and operator env, ``CNB_*`` inputs, the legacy positional arguments ``<platform> <plan>``,
    stdout and stderr captured together; every path given as the program sees it
    (``runner.inner_path``). Buildpacks must sit under ``workspace.buildpacks`` (copied,
    not symlinked: the sandbox sees only that directory); the plan file is written in the
    runner's ``temp_dir``. ``base_env`` defaults to ``runner.base_env({})``; pass the build
    image's env there (``runner.base_env(image.config.env_dict())``) for its ``PATH``.
    """

    def __init__(
        self,
        runner: Runner,
        workspace: Workspace,
        *,
        base_env: Mapping[str, str] | None = None,
        target: Target | None = None,
        exec_env: str = "",
        timeout: float | None = None,
        on_output: Callable[[str], None] | None = None,
    ) -> None:
        self.runner = runner
        self.workspace = workspace
        self.base_env = filtered_base_env(base_env if base_env is not None else runner.base_env({}))
        self.target = target
        self.exec_env = exec_env
        self.timeout = timeout
        self.on_output = on_output

    def __call__(self, element: GroupElement) -> DetectVerdict:
        executable = element.directory / "bin" / "detect"
        if not executable.is_file():
            return DetectVerdict(exit_code=-1, error=f"has no bin/detect ({executable})")
        inner = self.runner.inner_path
        try:
            buildpack_dir = inner(element.directory)
        except ValueError:
            return DetectVerdict(
                exit_code=-1,
                error=f"is not in the build's buildpacks directory ({element.directory})",
            )
        ws = self.workspace
        self.runner.temp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="detect-", dir=self.runner.temp_dir) as scratch:
            plan_path = Path(scratch) / "plan.toml"
            plan_path.write_bytes(b"")
            # Env files are read on the host; the CNB_* paths are the program's view.
            env = detect_env(
                self.base_env,
                element.located,
                platform_dir=ws.platform,
                build_config_dir=ws.build_config,
                plan_path=plan_path,
                target=self.target,
                exec_env=self.exec_env,
            )
            platform_dir, inner_plan = inner(ws.platform), inner(plan_path)
            shown = {
                "CNB_BUILDPACK_DIR": buildpack_dir,
                "CNB_PLATFORM_DIR": platform_dir,
                "CNB_BUILD_PLAN_PATH": inner_plan,
            }
            env.update(cnb_inputs(element.api, shown))
            result = self.runner.run(
                [inner(executable), platform_dir, inner_plan],
                cwd=self.runner.paths.app,
                env=env,
                on_output=self.on_output,
                timeout=self.timeout,
                buildpack=element.located,
            )
            if result.timed_out:
                error = f"timed out after {self.timeout:g}s"
                return DetectVerdict(result.exit_code, result.output, error=error)
            if result.exit_code != DETECT_PASS:
                return DetectVerdict(result.exit_code, result.output)
            try:
                plan = BuildPlan.read(plan_path)
            except CnbError as error:
                message = f"{error.field}: {error.message}" if error.field else error.message
                return DetectVerdict(
                    result.exit_code, result.output, error=f"wrote an invalid build plan: {message}"
                )
            return DetectVerdict(result.exit_code, result.output, plan)
