"""Detect as the lifecycle calls it (digest §2.1-§2.2, checklist §8 rules 4-5)."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_rule_4_detect_pass_exits_0_and_writes_the_plan(lifecycle) -> None:
    run = lifecycle.detect({"detect": {"provides": ["hello"], "requires": [{"name": "hello"}]}})
    assert run.exit_code == 0, run.stderr
    assert tomllib.loads(run.plan_path.read_text()) == {
        "provides": [{"name": "hello"}],
        "requires": [{"name": "hello"}],
    }


def test_rule_4_detect_fail_exits_100_and_writes_no_plan(lifecycle) -> None:
    run = lifecycle.detect({"detect": {"outcome": "fail"}})
    assert run.exit_code == 100
    assert "conformance.json says fail" in run.stdout + run.stderr
    assert run.plan_path.read_text() == ""


def test_rule_4_detect_error_exits_with_another_code_and_one_line(lifecycle) -> None:
    run = lifecycle.detect({"detect": {"outcome": "error"}})
    assert run.exit_code not in (0, 100)
    assert run.stderr == "error: conformance.json says error\n"
    assert "Traceback" not in run.stdout + run.stderr


def test_rule_5_detect_runs_in_the_app_dir_with_only_the_cnb_inputs(lifecycle) -> None:
    run = lifecycle.detect({}, record=True)
    assert run.exit_code == 0, run.stderr
    seen = run.seen
    assert seen["cwd"] == str(run.app)
    assert seen["executable"].startswith("/usr/bin/python3")
    assert set(seen["environ"]) <= {
        "PATH",
        "CNB_BUILDPACK_DIR",
        "CNB_PLATFORM_DIR",
        "CNB_BUILD_PLAN_PATH",
        "CNB_TARGET_OS",
        "CNB_TARGET_ARCH",
        "LC_CTYPE",  # Python's C-locale coercion may set it
    }
    assert seen["argv"][1:] == [seen["platform_dir"], str(run.plan_path)]


def test_rule_5_legacy_positional_args_alone_are_enough(lifecycle) -> None:
    run = lifecycle.detect(
        {"detect": {"provides": ["x"], "requires": [{"name": "x"}]}}, positional_only=True
    )
    assert run.exit_code == 0, run.stderr
    assert tomllib.loads(run.plan_path.read_text())["provides"] == [{"name": "x"}]


def test_section_2_1_detect_leaves_the_app_dir_untouched(lifecycle) -> None:
    app = lifecycle.app({"detect": {}}, files={"hello.txt": "hi"})
    before = sorted(p.relative_to(app) for p in app.rglob("*"))
    run = lifecycle.detect({}, app=app)
    assert run.exit_code == 0, run.stderr
    assert sorted(p.relative_to(app) for p in app.rglob("*")) == before


def test_section_2_2_plan_alternatives_are_or_tables_and_metadata_stays_in_requires(
    lifecycle,
) -> None:
    run = lifecycle.detect(
        {
            "detect": {
                "provides": ["node"],
                "requires": [{"name": "node", "metadata": {"version": "18.x", "launch": True}}],
                "or": [{"provides": ["yarn"], "requires": ["yarn"]}],
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    plan = tomllib.loads(run.plan_path.read_text())
    assert plan["requires"] == [{"name": "node", "metadata": {"version": "18.x", "launch": True}}]
    assert plan["or"] == [{"provides": [{"name": "yarn"}], "requires": [{"name": "yarn"}]}]
    # digest §2.2: a top-level `version` in a require is an error in the lifecycle.
    assert "version" not in plan["requires"][0]


def test_section_2_1_cnb_target_variables_describe_the_run_image_to_the_buildpack(
    lifecycle,
) -> None:
    run = lifecycle.detect({}, record=True)
    assert run.exit_code == 0, run.stderr
    assert run.seen["target"] == ["linux", "amd64"]
