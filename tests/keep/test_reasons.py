"""The reasons for a build, computed from the last build and the inputs now, as kpack's
``build_required.go`` computes them: one detector per reason, in kpack's order, each with
the old and the new value. No store, no images: the pure function alone."""

from __future__ import annotations

from dataclasses import replace

from cnbsdk.keep.model import BLOB, GIT, LOCAL, Change, Inputs
from cnbsdk.keep.reasons import (
    HIGH_PRIORITY,
    LOW_PRIORITY,
    LastBuild,
    build_changes,
    is_rebase,
    priority,
    summary,
)

RUN_1 = "cnbsdk/run:bookworm@sha256:" + "1" * 64
RUN_2 = "cnbsdk/run:bookworm@sha256:" + "2" * 64
CONFIG = {"env": [], "source": {"kind": GIT, "url": "file:///repo"}}
NOW = Inputs(
    config=CONFIG,
    source_kind=GIT,
    revision="a" * 40,
    builder="cnbsdk/builder:bookworm",
    builder_digest="sha256:" + "b" * 64,
    buildpacks=("e2e/hello@1.0.0", "examples/other@2.0.0"),
    run_image=RUN_1,
    stack_id="io.cnbsdk.stacks.bookworm",
    lifecycle_version="0.20.0",
)
LAST = LastBuild(
    succeeded=True,
    config=CONFIG,
    source_kind=GIT,
    revision="a" * 40,
    buildpacks=("e2e/hello@1.0.0",),
    run_image=RUN_1,
    stack_id="io.cnbsdk.stacks.bookworm",
    lifecycle_version="0.20.0",
)


def reasons(changes: tuple[Change, ...]) -> list[str]:
    return [c.reason for c in changes]


def test_the_first_build_is_config_from_nothing() -> None:
    changes = build_changes(None, NOW, trigger="Mon, 01 Jan 2024 00:00:00 +0000")
    assert changes == (Change("CONFIG", {}, CONFIG, "first build"),)
    assert priority(changes) == HIGH_PRIORITY
    assert not is_rebase(changes, None, NOW)


def test_nothing_changed_means_no_build() -> None:
    assert build_changes(LAST, NOW) == ()


def test_a_moved_branch_is_commit_with_both_commits() -> None:
    changes = build_changes(LAST, replace(NOW, revision="c" * 40))
    assert reasons(changes) == ["COMMIT"]
    assert (changes[0].old, changes[0].new) == ("a" * 40, "c" * 40)
    assert "Git revision" in changes[0].message


def test_a_local_directory_or_blob_says_which_content_changed() -> None:
    for kind, words in ((LOCAL, "local directory"), (BLOB, "blob")):
        last = replace(LAST, source_kind=kind, revision="sha256:old")
        now = replace(NOW, source_kind=kind, revision="sha256:new")
        (change,) = build_changes(last, now)
        assert change.reason == "COMMIT" and words in change.message
        assert (change.old, change.new) == ("sha256:old", "sha256:new")


def test_env_or_source_settings_changed_is_config_with_old_and_new() -> None:
    config = {**CONFIG, "env": [{"name": "BP_X", "value": "1"}]}
    (change,) = build_changes(LAST, replace(NOW, config=config))
    assert (change.reason, change.old, change.new) == ("CONFIG", CONFIG, config)


def test_a_buildpack_gone_from_the_builder_is_buildpack_naming_old_and_new() -> None:
    now = replace(NOW, buildpacks=("e2e/hello@1.1.0", "examples/other@2.0.0"))
    (change,) = build_changes(LAST, now)
    assert change.reason == "BUILDPACK"
    assert (change.old, change.new) == (["e2e/hello@1.0.0"], ["e2e/hello@1.1.0"])
    assert priority([change]) == LOW_PRIORITY


def test_a_new_run_image_alone_is_stack_and_a_rebase() -> None:
    now = replace(NOW, run_image=RUN_2)
    changes = build_changes(LAST, now)
    assert reasons(changes) == ["STACK"]
    assert (changes[0].old, changes[0].new) == (RUN_1, RUN_2)
    assert is_rebase(changes, LAST, now)


def test_the_same_run_image_digest_under_another_name_is_not_a_change() -> None:
    now = replace(NOW, run_image="registry.test/run:new@sha256:" + "1" * 64)
    assert build_changes(LAST, now) == ()


def test_stack_with_another_stack_id_rebuilds() -> None:
    now = replace(NOW, run_image=RUN_2, stack_id="io.other.stack")
    changes = build_changes(LAST, now)
    assert reasons(changes) == ["STACK"]
    assert not is_rebase(changes, LAST, now)


def test_stack_with_any_other_reason_rebuilds() -> None:
    now = replace(NOW, run_image=RUN_2, revision="c" * 40)
    changes = build_changes(LAST, now)
    assert reasons(changes) == ["COMMIT", "STACK"]
    assert not is_rebase(changes, LAST, now)
    assert summary(reasons(changes)) == "COMMIT+"


def test_lifecycle_version_changed_is_lifecycle() -> None:
    (change,) = build_changes(LAST, replace(NOW, lifecycle_version="0.21.0"))
    assert (change.reason, change.old, change.new) == ("LIFECYCLE", "0.20.0", "0.21.0")


def test_trigger_comes_first_and_carries_the_time() -> None:
    when = "Tue, 02 Jan 2024 10:00:00 +0000"
    changes = build_changes(LAST, replace(NOW, revision="c" * 40), trigger=when)
    assert reasons(changes) == ["TRIGGER", "COMMIT"]
    assert changes[0].new == when and when in changes[0].message
    assert summary(reasons(changes)) == "COMMIT+"


def test_after_a_failed_build_only_trigger_commit_and_config_count() -> None:
    failed = replace(LAST, succeeded=False)
    now = replace(NOW, run_image=RUN_2, buildpacks=(), lifecycle_version="9")
    assert build_changes(failed, now) == ()
    assert reasons(build_changes(failed, replace(now, revision="c" * 40))) == ["COMMIT"]


def test_all_six_in_kpacks_order() -> None:
    now = replace(
        NOW,
        revision="c" * 40,
        config={**CONFIG, "env": [{"name": "A", "value": "1"}]},
        buildpacks=(),
        run_image=RUN_2,
        lifecycle_version="0.21.0",
    )
    changes = build_changes(LAST, now, trigger="now")
    assert reasons(changes) == ["TRIGGER", "COMMIT", "CONFIG", "BUILDPACK", "STACK", "LIFECYCLE"]
    assert summary(reasons(changes)) == "CONFIG+"
    assert summary(["STACK"]) == "STACK"
