"""The pytest plugin as a buildpack author uses it: fixtures in a pytester session."""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

DEMO_BUILDPACK_TOML = """
api = "0.10"
[buildpack]
id = "tests/demo"
version = "1.2.3"
sbom-formats = ["application/vnd.cyclonedx+json"]
"""

DEMO_PLUGIN = """
import os
from cnbsdk.buildpack import (BuildResult, Component, DetectResult, LayerEnv, Process,
    Require, Sbom, Scope, hookimpl)

@hookimpl
def detect(context):
    marker = context.app_dir / "demo.txt"
    if not marker.is_file():
        return DetectResult.fail("no demo.txt")
    if marker.read_text() == "crash":
        raise RuntimeError("detect crashed on purpose")
    flavour = context.platform_env.get("BP_FLAVOUR", "plain")
    return DetectResult.passed(provides=["demo"], requires=[Require("demo", {"flavour": flavour})])

@hookimpl
def build(context):
    entries = context.plan_entries("demo")
    flavour = entries[0].metadata.get("flavour", "none") if entries else "none"
    tool = context.layers.cached("tool", expected={"flavour": flavour}, launch=True, build=True)
    if not tool.reused:
        (tool.path / "bin").mkdir()
        (tool.path / "bin" / "demo").write_text("#!/bin/sh\\necho demo\\n")
    tool.write_env(LayerEnv().override("DEMO_FLAVOUR", flavour).prepend("DEMO_PATH", "/x", ":"))
    tool.write_sbom(Sbom.cyclonedx([Component("demo-tool", "1.0.0")]))
    scratch = context.layers.uncached("scratch", build=True)
    (scratch.path / "note").write_text("build only")
    bindings = [b.name for b in context.bindings]
    runs = context.store.get("runs", 0) + 1
    return BuildResult(
        processes=[Process("web", ["demo"], default=True)],
        unmet=["extra"] if any(e.name == "extra" for e in context.buildpack_plan.entries) else [],
        store={"runs": runs, "bindings": bindings},
    )
"""


@pytest.fixture
def demo(pytester: pytest.Pytester) -> pytest.Pytester:
    package = pytester.mkpydir("demo_bp")
    (package / "__init__.py").write_text(textwrap.dedent(DEMO_PLUGIN))
    (package / "buildpack.toml").write_text(DEMO_BUILDPACK_TOML)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, test_source: str) -> pytest.RunResult:
    pytester.makepyfile(test_demo=textwrap.dedent(test_source))
    return pytester.runpytest("-q")


def test_fixtures_are_registered_through_the_pytest11_entry_point(
    demo: pytest.Pytester,
) -> None:
    demo.makepyfile(
        test_demo="""
        def test_it(cnb_app, run_detect):
            assert run_detect("demo_bp", cnb_app({"demo.txt": "x"})).passed
        """
    )
    result = demo.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_cnb_app_writes_text_bytes_and_nested_files(demo: pytest.Pytester) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, tmp_path):
            (tmp_path / "src").mkdir()
            (tmp_path / "src" / "copied.txt").write_text("copied")
            app = cnb_app({"a/b/c.txt": "text", "blob.bin": b"\\x00\\x01", "empty/": ""},
                          copy_from=tmp_path / "src")
            assert (app / "a/b/c.txt").read_text() == "text"
            assert (app / "blob.bin").read_bytes() == b"\\x00\\x01"
            assert (app / "empty").is_dir()
            assert (app / "copied.txt").read_text() == "copied"
            assert cnb_app({}) != app
        """,
    )
    result.assert_outcomes(passed=1)


def test_run_detect_reports_pass_fail_and_error_with_real_exit_codes(
    demo: pytest.Pytester,
) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, cnb_platform, run_detect):
            passed = run_detect("demo_bp", cnb_app({"demo.txt": "x"}),
                                platform_dir=cnb_platform(env={"BP_FLAVOUR": "spicy"}))
            assert (passed.exit_code, passed.passed) == (0, True)
            assert passed.plan.requires[0].metadata == {"flavour": "spicy"}
            failed = run_detect("demo_bp", cnb_app({}))
            assert (failed.exit_code, failed.failed, failed.plan) == (100, True, None)
            assert "no demo.txt" in failed.output
            crashed = run_detect("demo_bp", cnb_app({"demo.txt": "crash"}))
            assert crashed.exit_code == 1 and crashed.errored
            assert crashed.stderr.startswith("error: RuntimeError: detect crashed on purpose (at ")
            assert "demo_bp/__init__.py:" in crashed.stderr and " in detect)" in crashed.stderr
        """,
    )
    result.assert_outcomes(passed=1)


def test_run_detect_finds_an_installed_buildpack_by_id(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        def test_it(cnb_app, run_detect):
            result = run_detect("examples/hello", cnb_app({"hello.txt": "hi"}))
            assert result.passed, result.output
        """,
    )
    result.assert_outcomes(passed=1)


def test_run_build_reads_back_layers_launch_build_store_and_sboms(
    demo: pytest.Pytester,
) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, cnb_platform, run_build):
            platform = cnb_platform(bindings={"db": {"type": "postgresql", "password": "s"}})
            build = run_build("demo_bp", cnb_app({"demo.txt": "x"}), platform_dir=platform,
                              plan=[{"name": "demo", "metadata": {"flavour": "mild"}}, "extra"])
            assert build.exit_code == 0, build.output
            tool = build.layers["tool"]
            assert (tool.types.launch, tool.types.build, tool.types.cache) == (True, True, True)
            assert tool.metadata == {"flavour": "mild"}
            assert tool.env_files() == {"env/DEMO_FLAVOUR.override": "mild",
                                        "env/DEMO_PATH.prepend": "/x",
                                        "env/DEMO_PATH.delim": ":"}
            assert tool.sboms["cdx.json"]["components"][0]["name"] == "demo-tool"
            assert build.layers["scratch"].types.cache is False
            assert build.launch.default_process.command == ("demo",)
            assert build.unmet == ("extra",)
            assert build.store.metadata == {"runs": 1, "bindings": ["db"]}
            assert build.layers_dir.name == "tests_demo"
        """,
    )
    result.assert_outcomes(passed=1)


def test_restore_rebuilds_on_the_previous_cache_like_the_lifecycle(
    demo: pytest.Pytester,
) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, run_build):
            app = cnb_app({"demo.txt": "x"})
            first = run_build("demo_bp", app, plan=[{"name": "demo", "metadata": {"flavour": "a"}}])
            again = run_build("demo_bp", app, plan=[{"name": "demo", "metadata": {"flavour": "a"}}],
                              restore=first)
            assert "Reusing layer 'tool'" in again.output
            assert again.store.metadata["runs"] == 2
            changed = run_build("demo_bp", app, restore=again,
                                plan=[{"name": "demo", "metadata": {"flavour": "b"}}])
            assert "flavour changed from a to b" in changed.output
        """,
    )
    result.assert_outcomes(passed=1)


def test_cnb_layers_restores_tomls_without_types(demo: pytest.Pytester) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, cnb_layers, run_build):
            layers = cnb_layers(
                restored={"tool": {"metadata": {"flavour": "none"}, "files": {"bin/demo": "old"}}},
                store={"runs": 41},
            )
            assert "[types]" not in (layers / "tool.toml").read_text()
            build = run_build("demo_bp", cnb_app({"demo.txt": "x"}), layers_dir=layers)
            assert build.exit_code == 0, build.output
            assert "Reusing layer 'tool'" in build.output
            assert (layers / "tool" / "bin" / "demo").read_text() == "old"
            assert "[types]" in (layers / "tool.toml").read_text()
            assert build.store.metadata["runs"] == 42
        """,
    )
    result.assert_outcomes(passed=1)


def test_cnb_package_runs_the_packaged_buildpack_with_a_bare_environment(
    demo: pytest.Pytester,
) -> None:
    result = run(
        demo,
        """
        import os
        def test_it(cnb_app, cnb_package, run_detect, run_build):
            packaged = cnb_package("demo_bp")
            assert os.access(packaged / "bin" / "detect", os.X_OK)
            assert (packaged / "lib" / "demo_bp" / "buildpack.toml").is_file()
            assert run_detect(packaged, cnb_app({"demo.txt": "x"})).passed
            assert run_detect(packaged, cnb_app({})).exit_code == 100
            build = run_build(packaged, cnb_app({"demo.txt": "x"}), plan=["demo"])
            assert build.exit_code == 0, build.output
            assert build.layers["tool"].metadata == {"flavour": "none"}
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_failing_assertion_shows_the_buildpack_output(demo: pytest.Pytester) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, run_detect):
            result = run_detect("demo_bp", cnb_app({}))
            assert result.passed, result.output
        """,
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: no demo.txt*"])


def test_an_unknown_buildpack_is_a_one_line_error(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
        import pytest
        from cnbsdk.errors import BuildpackError
        def test_it(cnb_app, run_detect):
            with pytest.raises(BuildpackError, match="no installed buildpack 'nobody/here'"):
                run_detect("nobody/here", cnb_app({}))
        """,
    )
    result.assert_outcomes(passed=1)


def test_context_factories_give_what_the_hooks_get(demo: pytest.Pytester) -> None:
    result = run(
        demo,
        """
        def test_it(cnb_app, cnb_platform, cnb_detect_context, cnb_build_context):
            app = cnb_app({"demo.txt": "x"})
            platform = cnb_platform(env={"BP_FLAVOUR": "hot"},
                                    bindings={"db": {"type": "postgresql"}})
            detect = cnb_detect_context("demo_bp", app, platform_dir=platform)
            assert detect.app_dir == app and detect.buildpack_id == "tests/demo"
            assert detect.platform_env == {"BP_FLAVOUR": "hot"}
            assert [b.type for b in detect.bindings] == ["postgresql"]
            assert detect.target.os == "linux"
            build = cnb_build_context("demo_bp", app, plan=[{"name": "demo", "metadata": {"v": 1}}])
            assert build.plan_entries("demo")[0].metadata == {"v": 1}
            layer = build.layers.cached("tool", expected={"v": 1}, launch=True)
            assert layer.path.parent == build.layers_dir and not layer.reused
        """,
    )
    result.assert_outcomes(passed=1)
