"""SandboxDetectRunner on the host (HostRunner) running real bash buildpacks
(tests/lifecycle/fixtures/*/bin/detect): cwd, filtered env, CNB_* inputs, legacy arguments,
captured output, exit codes, plan reading."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cnbsdk.lifecycle.detect import SandboxDetectRunner, detect
from cnbsdk.lifecycle.order import BuildpackIndex, expand_order
from cnbsdk.lifecycle.sandbox import HostRunner
from cnbsdk.lifecycle.workspace import Workspace
from cnbsdk.spec.target import Target
from tests.lifecycle.builders import descriptor, order_of

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def buildpacks(tmp_path: Path) -> BuildpackIndex:
    """Each fixture copied to <tmp>/buildpacks/<name> (the workspace's buildpacks directory)
    with a buildpack.toml from the model."""
    root = tmp_path / "buildpacks"
    for fixture in sorted(FIXTURES.iterdir()):
        target = root / fixture.name
        shutil.copytree(fixture, target)
        (target / "bin" / "detect").chmod(0o755)
        descriptor(fixture.name, api="0.12").write(target / "buildpack.toml")
    return BuildpackIndex.from_directories(sorted(root.iterdir()))


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The app and platform directories of a workspace rooted at <tmp>."""
    workspace = Workspace.create(tmp_path)
    return workspace.app, workspace.platform


def _runner(dirs: tuple[Path, Path], **kwargs: object) -> SandboxDetectRunner:
    workspace = Workspace(dirs[0].parent)
    base = {"PATH": os.environ["PATH"], "HOME": "/home/cnb", "SECRET_TOKEN": "s3cr3t"}
    return SandboxDetectRunner(
        HostRunner(workspace),
        workspace,
        base_env=base,
        **kwargs,  # type: ignore[arg-type]
    )


def test_rule_5_detect_runs_in_the_app_with_filtered_env_and_cnb_inputs(
    buildpacks: BuildpackIndex, dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    app, platform = dirs
    dump = tmp_path / "env.dump"
    (platform / "env" / "DUMP_TO").write_text(str(dump))
    (platform / "env" / "RAW").write_bytes(b"caf\xe9\n")
    runner = _runner(dirs, target=Target(os="linux", arch="amd64"), exec_env="test")
    [group] = expand_order(order_of(["provider"]), buildpacks)
    verdict = runner(group[0])

    assert verdict.status == "pass", verdict.output
    assert f"detecting in {app}" in verdict.output
    env = dict(item.split(b"=", 1) for item in dump.read_bytes().split(b"\0") if item)
    assert b"SECRET_TOKEN" not in env
    assert env[b"HOME"] == b"/home/cnb"
    assert env[b"RAW"] == b"caf\xe9\n"  # byte for byte, newline kept
    assert env[b"CNB_PLATFORM_DIR"] == os.fsencode(platform)
    assert env[b"CNB_BUILDPACK_DIR"] == os.fsencode(tmp_path / "buildpacks" / "provider")
    assert (env[b"CNB_TARGET_OS"], env[b"CNB_TARGET_ARCH"]) == (b"linux", b"amd64")
    assert env[b"CNB_EXEC_ENV"] == b"test"
    assert f"args: {platform} {env[b'CNB_BUILD_PLAN_PATH'].decode()}" in verdict.output


def test_rule_4_plan_written_by_bash_is_read_with_its_alternatives(
    buildpacks: BuildpackIndex, dirs: tuple[Path, Path]
) -> None:
    [group] = expand_order(order_of(["provider"]), buildpacks)
    verdict = _runner(dirs)(group[0])
    assert verdict.plan is not None
    assert verdict.plan.to_dict() == {
        "provides": [{"name": "greeting"}],
        "requires": [{"name": "greeting", "metadata": {"text": "hello"}}],
        "or": [{"provides": [{"name": "salute"}]}],
    }


def test_rule_4_exit_codes_and_output_of_real_buildpacks(
    buildpacks: BuildpackIndex, dirs: tuple[Path, Path]
) -> None:
    groups = expand_order(order_of(["no-match"], ["crash"], ["bad-plan"]), buildpacks)
    report = detect(groups, _runner(dirs))
    assert not report.passed
    assert report.exit_code == 21
    lines = [attempt.verdicts[0] for attempt in report.attempts]
    assert [(line.outcome, line.verdict.exit_code) for line in lines] == [
        ("fail", 100),
        ("error", 1),
        ("error", 0),
    ]
    assert lines[0].verdict.output.startswith("no go.mod in ")
    assert lines[1].verdict.output == "starting\nboom: cannot parse package.json\n"
    assert lines[2].reason == (
        "wrote an invalid build plan: requires[0].version: is not allowed here: put it in "
        "the metadata table"
    )


def test_first_passing_real_group_gives_group_and_plan(
    buildpacks: BuildpackIndex, dirs: tuple[Path, Path]
) -> None:
    groups = expand_order(order_of(["no-match"], [("crash", True), "provider"]), buildpacks)
    report = detect(groups, _runner(dirs))
    assert report.passed
    assert [str(m.id) for m in report.group_toml().group] == ["provider"]
    assert report.platform_plan().to_dict() == {
        "entries": [
            {
                "providers": [{"id": "provider", "version": "1.0.0"}],
                "requires": [{"name": "greeting", "metadata": {"text": "hello"}}],
            }
        ]
    }
    crash = report.selected.verdicts[0]
    assert (crash.outcome, crash.reason) == ("skipped", "optional, and detect errored (exit 1)")


def test_missing_bin_detect_is_an_error_verdict(
    buildpacks: BuildpackIndex, dirs: tuple[Path, Path]
) -> None:
    [group] = expand_order(order_of(["crash"]), buildpacks)
    (group[0].directory / "bin" / "detect").unlink()
    verdict = _runner(dirs)(group[0])
    assert verdict.status == "error"
    assert verdict.error.startswith("has no bin/detect")
