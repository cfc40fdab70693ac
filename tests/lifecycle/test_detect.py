"""Choosing a group (digest §2.3 steps 3-5, checklist rules 4, 6, 9) and the detect report,
with a scripted runner standing in for bin/detect (tests/lifecycle/test_detect_run.py runs
real bash buildpacks)."""

from __future__ import annotations

import pytest

from cnbsdk.lifecycle.detect import (
    EXIT_BUILDPACK_ERRORED,
    EXIT_NO_GROUP_PASSED,
    DetectionFailed,
    DetectVerdict,
    detect,
    detect_or_fail,
)
from cnbsdk.lifecycle.order import expand_order
from cnbsdk.spec.ids import BuildpackId
from tests.lifecycle.builders import (
    ScriptedRunner,
    components,
    errors,
    fails,
    ids,
    index,
    order_of,
    passes,
    plan,
)


def _groups(*groups: list[str | tuple[str, bool]]) -> tuple:
    names = {ref if isinstance(ref, str) else ref[0] for group in groups for ref in group}
    return expand_order(order_of(*groups), index(*components(*sorted(names))))


def test_rule_6_first_passing_group_wins_and_later_groups_are_not_run() -> None:
    runner = ScriptedRunner({"a": fails(), "b": passes(), "c": passes()})
    report = detect(_groups(["a"], ["b"], ["c"]), runner)
    assert report.passed and report.exit_code == 0
    assert ids(report.plan.group) == ["b"]
    assert runner.calls == ["a", "b"]
    assert [a.passed for a in report.attempts] == [False, True]


def test_rule_4_required_failure_fails_the_group() -> None:
    runner = ScriptedRunner({"a": passes(), "b": fails("no package.json")})
    report = detect(_groups(["a", "b"]), runner)
    assert not report.passed
    [attempt] = report.attempts
    assert attempt.reason == "required buildpack b@1.0.0 failed (exit 100)"
    assert [(v.outcome, v.verdict.output) for v in attempt.verdicts] == [
        ("pass", ""),
        ("fail", "no package.json"),
    ]


def test_rule_4_optional_failure_is_skipped_and_left_out_of_the_group() -> None:
    runner = ScriptedRunner({"a": passes(), "b": fails(), "c": passes()})
    report = detect(_groups(["a", ("b", True), "c"]), runner)
    assert ids(report.plan.group) == ["a", "c"]
    outcomes = [(str(v.element.id), v.outcome, v.reason) for v in report.selected.verdicts]
    assert outcomes[1] == ("b", "skipped", "optional, and detect failed (exit 100)")


def test_rule_4_group_with_no_passing_buildpack_fails() -> None:
    runner = ScriptedRunner({"a": fails(), "b": fails()})
    report = detect(_groups([("a", True), ("b", True)]), runner)
    assert not report.passed
    assert report.attempts[0].reason == "no buildpack passed detection"
    assert report.exit_code == EXIT_NO_GROUP_PASSED


def test_rule_7_group_fails_when_its_plan_does_not_resolve() -> None:
    runner = ScriptedRunner({"a": passes(plan([], ["node"])), "b": passes()})
    report = detect(_groups(["a"], ["b"]), runner)
    assert ids(report.plan.group) == ["b"]
    assert report.attempts[0].reason == (
        "build plan does not resolve: a@1.0.0 requires 'node', but neither it nor a "
        "buildpack before it provides it"
    )


def test_rule_8_optional_buildpack_dropped_by_the_plan_is_reported_as_dropped() -> None:
    runner = ScriptedRunner({"a": passes(plan(["extra"])), "b": passes()})
    report = detect(_groups([("a", True), "b"]), runner)
    assert ids(report.plan.group) == ["b"]
    line = report.selected.verdicts[0]
    assert line.outcome == "dropped"
    assert line.reason == (
        "optional, and provides 'extra', but neither it nor a buildpack after it requires it"
    )


def test_rule_4_exit_20_when_every_group_failed_cleanly() -> None:
    runner = ScriptedRunner({"a": fails(), "b": fails()})
    with pytest.raises(DetectionFailed) as raised:
        detect_or_fail(_groups(["a"], ["b"]), runner)
    assert raised.value.exit_code == EXIT_NO_GROUP_PASSED == 20
    assert str(raised.value) == (
        "No buildpack groups passed detection (group 1: required buildpack a@1.0.0 failed "
        "(exit 100); group 2: required buildpack b@1.0.0 failed (exit 100))"
    )


def test_rule_4_exit_21_when_a_buildpack_errored() -> None:
    runner = ScriptedRunner({"a": errors(3, "panic: boom"), "b": fails()})
    report = detect(_groups(["a"], ["b"]), runner)
    assert report.exit_code == EXIT_BUILDPACK_ERRORED == 21
    line = report.attempts[0].verdicts[0]
    assert (line.outcome, line.reason, line.verdict.output) == (
        "error",
        "errored (exit 3)",
        "panic: boom",
    )


def test_rule_4_exit_code_1_is_an_error_not_a_failure() -> None:
    runner = ScriptedRunner({"a": errors(1)})
    assert detect(_groups(["a"]), runner).exit_code == 21


def test_rule_4_optional_error_does_not_fail_the_group() -> None:
    runner = ScriptedRunner({"a": errors(2), "b": passes()})
    report = detect(_groups([("a", True), "b"]), runner)
    assert report.passed
    assert report.selected.verdicts[0].outcome == "skipped"


def test_buildpack_in_several_groups_runs_once() -> None:
    runner = ScriptedRunner({"a": passes(), "b": fails(), "c": passes()})
    report = detect(_groups(["a", "b"], ["a", "c"]), runner)
    assert ids(report.plan.group) == ["a", "c"]
    assert runner.calls == ["a", "b", "c"]


def test_runner_raising_a_cnb_error_counts_as_an_errored_buildpack() -> None:
    from cnbsdk.errors import BuildpackError

    def runner(element):  # type: ignore[no-untyped-def]
        raise BuildpackError("sandbox could not start", file="bin/detect")

    report = detect(_groups(["a"]), runner)
    assert report.exit_code == 21
    assert report.attempts[0].verdicts[0].reason == "bin/detect: sandbox could not start"


def test_report_of_the_selected_group_gives_group_and_plan_files() -> None:
    runner = ScriptedRunner({"node": passes(plan(["node"])), "npm": passes(plan([], ["node"]))})
    report = detect(_groups(["node", "npm"]), runner)
    assert [str(m.id) for m in report.group_toml().group] == ["node", "npm"]
    [entry] = report.platform_plan().entries
    assert entry.providers[0].id == BuildpackId("node")
    assert report.summary() == "group 1 of 1 tried passed: node@1.0.0, npm@1.0.0"
    assert report.selected.verdicts[0].reason == "passed: provides node, requires nothing"


def test_report_for_a_failed_detection_refuses_to_give_a_plan() -> None:
    report = detect(_groups(["a"]), ScriptedRunner({"a": fails()}))
    with pytest.raises(DetectionFailed, match="No buildpack groups passed detection"):
        report.group_toml()


def test_summary_names_at_most_three_groups() -> None:
    runner = ScriptedRunner({name: fails() for name in "abcde"})
    report = detect(_groups(["a"], ["b"], ["c"], ["d"], ["e"]), runner)
    assert report.summary().endswith("; and 2 more)")
    assert "\n" not in report.summary()


def test_verdict_status_by_exit_code() -> None:
    assert DetectVerdict(0).status == "pass"
    assert DetectVerdict(100).status == "fail"
    assert DetectVerdict(99).status == "error"
    assert DetectVerdict(101).status == "error"
    assert DetectVerdict(0, error="wrote an invalid build plan").status == "error"
