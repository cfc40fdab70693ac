"""Contexts built from directories and env: platform env, bindings, target, plan, store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.buildpack import BuildpackError, RunTarget, make_build_context, make_detect_context
from cnbsdk.spec.buildpack_plan import PlanEntry

from .conftest import Workspace


def binding(root: Path, name: str, type_: str, provider: str = "", **entries: str) -> None:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "type").write_text(type_ + "\n")
    if provider:
        (directory / "provider").write_text(provider)
    for key, value in entries.items():
        (directory / key).write_text(value)


def test_detect_context_reads_platform_env_target_and_exec_env(workspace: Workspace) -> None:
    workspace.platform_env("BP_GREETING_VERSION", "7\n")
    environ = {
        "CNB_TARGET_OS": "linux",
        "CNB_TARGET_ARCH": "arm64",
        "CNB_TARGET_ARCH_VARIANT": "v8",
        "CNB_TARGET_DISTRO_NAME": "debian",
        "CNB_TARGET_DISTRO_VERSION": "12",
    }
    context = make_detect_context(
        app_dir=workspace.app,
        buildpack_dir=workspace.buildpack,
        platform_dir=workspace.platform,
        environ=environ,
    )
    assert context.platform_env == {"BP_GREETING_VERSION": "7\n"}
    assert context.target == RunTarget("linux", "arm64", "v8", "debian", "12")
    assert context.exec_env == "production"
    assert context.buildpack_id == "tests/hello" and context.buildpack_version == "1.2.3"
    assert context.config.get("BP_GREETING_VERSION") == "7\n"
    assert context.bindings == ()


def test_bindings_under_platform_dir(workspace: Workspace) -> None:
    root = workspace.platform / "bindings"
    binding(root, "my-maven", "maven", "acme", **{"settings.xml": "<settings/>"})
    binding(root, "ca", "ca-certificates")
    (root / "..data").mkdir()

    context = make_detect_context(
        app_dir=workspace.app,
        buildpack_dir=workspace.buildpack,
        platform_dir=workspace.platform,
        environ={"CNB_EXEC_ENV": "test"},
    )

    assert [(b.name, b.type, b.provider) for b in context.bindings] == [
        ("ca", "ca-certificates", ""),
        ("my-maven", "maven", "acme"),
    ]
    (maven,) = context.bindings_of_type("MAVEN")
    assert set(maven.entries) == {"settings.xml"}
    assert maven.read("settings.xml") == "<settings/>"
    assert context.exec_env == "test"
    with pytest.raises(BuildpackError, match="binding 'my-maven' has no entry 'password'"):
        maven.read("password")


def test_service_binding_root_wins(workspace: Workspace, tmp_path: Path) -> None:
    binding(workspace.platform / "bindings", "ignored", "x")
    binding(tmp_path / "sb", "used", "y")
    context = make_detect_context(
        app_dir=workspace.app,
        buildpack_dir=workspace.buildpack,
        platform_dir=workspace.platform,
        environ={"SERVICE_BINDING_ROOT": str(tmp_path / "sb")},
    )
    assert [b.name for b in context.bindings] == ["used"]


def test_binding_without_type_is_an_error(workspace: Workspace) -> None:
    (workspace.platform / "bindings" / "broken").mkdir(parents=True)
    with pytest.raises(BuildpackError, match="binding 'broken' has no type"):
        make_detect_context(
            app_dir=workspace.app,
            buildpack_dir=workspace.buildpack,
            platform_dir=workspace.platform,
            environ={},
        )


def test_build_context_reads_plan_and_restored_store(workspace: Workspace) -> None:
    workspace.bp_plan.write_text(
        '[[entries]]\nname = "hello"\n[entries.metadata]\nversion = "2"\n'
        '[[entries]]\nname = "hello"\n[[entries]]\nname = "other"\n'
    )
    (workspace.layers / "store.toml").write_text("[metadata]\nbuilds = 4\n")
    context = make_build_context(
        app_dir=workspace.app,
        buildpack_dir=workspace.buildpack,
        platform_dir=workspace.platform,
        layers_dir=workspace.layers,
        plan_path=workspace.bp_plan,
        environ={},
    )
    assert context.plan_entries("hello") == (
        PlanEntry("hello", {"version": "2"}),
        PlanEntry("hello"),
    )
    assert context.store == {"builds": 4}
    assert context.layers.layers_dir == workspace.layers
    assert context.layers.sbom_formats == ("application/vnd.cyclonedx+json",)


def test_unreadable_store_is_ignored_with_a_warning(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.layers / "store.toml").write_text("metadata = 3\n")
    context = make_build_context(
        app_dir=workspace.app,
        buildpack_dir=workspace.buildpack,
        platform_dir=workspace.platform,
        layers_dir=workspace.layers,
        environ={},
    )
    assert context.store == {}
    assert "Warning: ignoring the restored store.toml" in capsys.readouterr().out
