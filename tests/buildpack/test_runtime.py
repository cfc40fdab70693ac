"""bin/detect and bin/build as the lifecycle runs them: inputs, exit codes, output files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnbsdk.buildpack.runtime import main
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.toml_file import read_toml

from .conftest import FIXTURE_PLUGINS, Workspace

REPO = Path(__file__).resolve().parents[2]
HELLO = "fixture_hello"


def detect(ws: Workspace, **env: str) -> int:
    return main(HELLO, argv=[str(ws.buildpack / "bin" / "detect")], environ=ws.detect_env(**env))


def build(ws: Workspace, **env: str) -> int:
    return main(HELLO, argv=[str(ws.buildpack / "bin" / "build")], environ=ws.build_env(**env))


# -- detect -------------------------------------------------------------------------------


def test_detect_pass_writes_the_plan_with_alternatives(workspace: Workspace) -> None:
    (workspace.app / "hello.txt").write_text("2.0\n")

    assert detect(workspace) == 0

    plan = BuildPlan.read(workspace.plan)
    assert [p.name for p in plan.provides] == ["hello"]
    assert plan.requires[0].name == "hello"
    assert plan.requires[0].metadata == {"version": "2.0", "launch": True}
    assert [[p.name for p in o.provides] for o in plan.options] == [
        ["hello"],
        ["hello"],
        ["hello-lite"],
    ]
    raw = read_toml(workspace.plan)
    assert raw["or"][1] == {
        "provides": [{"name": "hello-lite"}],
        "requires": [{"name": "hello-lite"}],
    }


def test_detect_fail_exits_100_and_prints_the_reason(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert detect(workspace) == 100
    out = capsys.readouterr().out
    assert "no hello.txt in the app directory" in out
    assert workspace.plan.read_text() == ""


def test_detect_buildpack_error_exits_1_with_one_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "error.txt").write_text("the app is broken\n")
    assert detect(workspace) == 1
    err = capsys.readouterr().err
    assert err == "error: the app is broken\n"


FIXTURE_HELLO = FIXTURE_PLUGINS / "fixture_hello" / "__init__.py"


def _line_of(text: str, *, prefix: bool = False) -> int:
    lines = FIXTURE_HELLO.read_text().splitlines()
    if prefix:
        return next(n for n, line in enumerate(lines, start=1) if line.startswith(text))
    return lines.index(text) + 1


def test_unexpected_exception_is_one_line_with_its_type_and_the_author_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "boom.txt").write_text("")
    assert detect(workspace) == 1
    err = capsys.readouterr().err
    line = _line_of('        raise ValueError("boom went the detect hook")')
    assert err == (
        f"error: ValueError: boom went the detect hook (at {FIXTURE_HELLO}:{line} in detect)\n"
    )
    assert "Traceback" not in err


def test_an_attribute_typo_in_build_names_the_author_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "typo.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    line = _line_of('        context.layer("greeting")', prefix=True)
    assert err == (
        "error: AttributeError: 'BuildContext' object has no attribute 'layer'"
        f" (at {FIXTURE_HELLO}:{line} in build)\n"
    )


def test_an_error_raised_inside_a_library_names_the_author_line_that_called_it(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "tomli-w.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    line = _line_of('        tomli_w.dumps({"value": object()})  # raises inside tomli_w')
    assert err.startswith("error: TypeError: ")
    assert err.endswith(f" (at {FIXTURE_HELLO}:{line} in build)\n")


def test_a_missing_file_names_the_error_type_the_file_and_the_author_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "read-site.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    line = _line_of('        (app / "site.json").read_text()')
    assert err == (
        f"error: FileNotFoundError: {workspace.app / 'site.json'}: No such file or directory"
        f" (at {FIXTURE_HELLO}:{line} in build)\n"
    )


def test_debug_log_level_adds_the_traceback(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "boom.txt").write_text("")
    assert detect(workspace, BP_LOG_LEVEL="DEBUG") == 1
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "error: ValueError: boom went the detect hook (at " in err


def test_hook_returning_none_is_an_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "none.txt").write_text("")
    assert detect(workspace) == 1
    assert "the detect hook returned None" in capsys.readouterr().err


def test_legacy_positional_arguments_are_accepted(workspace: Workspace) -> None:
    (workspace.app / "hello.txt").write_text("1")
    argv = [
        str(workspace.buildpack / "bin" / "detect"),
        str(workspace.platform),
        str(workspace.plan),
    ]
    assert main(HELLO, argv=argv, environ={}) == 0
    assert BuildPlan.read(workspace.plan).provides[0].name == "hello"


def test_missing_inputs_name_the_variable(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(HELLO, argv=[str(workspace.buildpack / "bin" / "build")], environ={}) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: CNB_LAYERS_DIR is not set")
    assert err.count("\n") == 1


def test_unknown_phase_is_an_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(HELLO, argv=["/x/bin/generate"], environ=workspace.detect_env()) == 1
    assert "run it as bin/detect or bin/build" in capsys.readouterr().err


def test_unsupported_buildpack_api_is_refused(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bp = tmp_path / "old-bp"
    bp.mkdir()
    (bp / "buildpack.toml").write_text(
        'api = "0.6"\n[buildpack]\nid = "tests/hello"\nversion = "1.2.3"\n'
    )
    (workspace.app / "hello.txt").write_text("1")
    code = main(
        HELLO,
        argv=[str(bp / "bin" / "detect")],
        environ=workspace.detect_env(CNB_BUILDPACK_DIR=str(bp)),
    )
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "buildpack.toml: api:" in err and "0.6" in err
    assert workspace.plan.read_text() == ""


@pytest.mark.parametrize("phase", ["detect", "build"])
def test_a_plugin_declaring_api_0_9_is_refused_though_the_lifecycle_runs_0_9(
    workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], phase: str
) -> None:
    bp = tmp_path / "bp-0.9"
    bp.mkdir()
    descriptor = bp / "buildpack.toml"
    descriptor.write_text('api = "0.9"\n[buildpack]\nid = "tests/hello"\nversion = "1.2.3"\n')
    (workspace.app / "hello.txt").write_text("1")
    environ = workspace.detect_env if phase == "detect" else workspace.build_env

    code = main(HELLO, argv=[str(bp / "bin" / phase)], environ=environ(CNB_BUILDPACK_DIR=str(bp)))

    assert code == 1
    assert capsys.readouterr().err == (
        f"error: {descriptor}: api: unsupported Buildpack API 0.9 for a Python plugin: "
        "cnbsdk.buildpack implements 0.10 to 0.12 (bash or Go buildpacks of 0.7 to 0.12 build "
        "as they are)\n"
    )
    assert workspace.plan.read_text() == ""
    assert not (workspace.layers / "launch.toml").exists()


def test_plugin_with_a_misnamed_hook_is_refused(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main("fixture_misnamed_hook", argv=["/bp/bin/build"], environ=workspace.build_env())
    assert code == 1
    err = capsys.readouterr().err
    assert "fixture_misnamed_hook" in err and "buidl" in err
    assert err.count("\n") == 1


def test_unimportable_plugin_is_one_line(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main("no_such_plugin_xyz", argv=["/bp/bin/detect"], environ=workspace.detect_env()) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot import buildpack plugin 'no_such_plugin_xyz'")


# -- build --------------------------------------------------------------------------------


def test_build_writes_launch_toml_store_and_sboms(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(workspace) == 0

    launch = read_toml(workspace.layers / "launch.toml")
    assert launch["processes"] == [
        {
            "type": "web",
            "command": ["hello"],
            "args": ["--name", "world"],
            "default": True,
            "working-dir": "/workspace/sub",
        },
        {"type": "worker", "command": ["hello", "--worker"]},
    ]
    assert launch["labels"] == [{"key": "org.example.greeting", "value": "1"}]
    assert launch["slices"] == [{"paths": ["public/**"]}]
    LaunchToml.read(workspace.layers / "launch.toml")  # the lifecycle's reader accepts it
    assert StoreToml.read(workspace.layers / "store.toml").metadata == {"builds": 1}
    assert not (workspace.layers / "build.toml").exists()

    layer_toml = LayerContentMetadata.read(workspace.layers / "greeting.toml")
    assert layer_toml.types == LayerTypes(launch=True, build=True, cache=True)
    assert layer_toml.metadata == {"version": "1"}
    sbom = json.loads((workspace.layers / "greeting.sbom.cdx.json").read_text())
    assert sbom["components"][0]["name"] == "greeting"
    assert (workspace.layers / "launch.sbom.cdx.json").is_file()

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Hello Fixture 1.2.3"
    assert "  Selected Greeting version (using BP_GREETING_VERSION): 1" in lines
    assert "  Creating layer 'greeting'" in lines
    assert "  Assigning launch processes:" in lines
    assert "    web (default): hello --name world" in lines
    assert "    worker: hello --worker" in lines


def test_second_build_reuses_the_layer_and_reads_the_store(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(workspace) == 0
    # What the lifecycle restores: the toml without [types], the contents, store.toml.
    toml = workspace.layers / "greeting.toml"
    toml.write_text(LayerContentMetadata(metadata={"version": "1"}).to_toml())
    (workspace.layers / "launch.toml").unlink()
    capsys.readouterr()

    assert build(workspace) == 0

    out = capsys.readouterr().out
    assert "  Reusing layer 'greeting' (version 1 unchanged)" in out.splitlines()
    assert LayerContentMetadata.read(toml).types == LayerTypes(launch=True, build=True, cache=True)
    assert StoreToml.read(workspace.layers / "store.toml").metadata == {"builds": 2}


def test_changed_configuration_rebuilds_the_layer(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(workspace) == 0
    capsys.readouterr()
    workspace.platform_env("BP_GREETING_VERSION", "2")

    assert build(workspace) == 0

    out = capsys.readouterr().out
    assert "  Rebuilding layer 'greeting': version changed from 1 to 2" in out.splitlines()
    assert (
        workspace.layers / "greeting" / "bin" / "hello"
    ).read_text() == "#!/bin/sh\necho 'hello 2'\n"


def test_build_prints_the_configuration_table(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace.platform_env("BP_GREETING_VERSION", "3")
    assert build(workspace) == 0
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("  Build Configuration:")
    assert lines[start : start + 4] == [
        "  Build Configuration:",
        "    $BP_GREETING_VERSION  3  the greeting version to install",
        "  Launch Configuration:",
        "    $BPL_GREETING_LOUD  false  shout the greeting at launch",
    ]


def test_unmet_entries_go_to_build_toml(workspace: Workspace) -> None:
    workspace.bp_plan.write_text('[[entries]]\nname = "hello"\n[[entries]]\nname = "unmet-me"\n')
    assert build(workspace) == 0
    assert [u.name for u in BuildToml.read(workspace.layers / "build.toml").unmet] == ["unmet-me"]


def test_unmet_name_outside_the_plan_is_an_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "unknown-unmet.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    assert "build.toml: unmet: unmet entry 'not-in-the-plan' is not in this buildpack's plan" in err
    assert not (workspace.layers / "launch.toml").exists()


def test_two_default_processes_fail_naming_launch_toml(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "two-defaults.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: launch.toml: processes[2].default: only one process")
    assert not (workspace.layers / "launch.toml").exists()
    assert not (workspace.layers / "store.toml").exists()


def test_undeclared_sbom_format_is_refused(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "spdx.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    assert "application/spdx+json" in err
    assert "buildpack.sbom-formats" in err and "buildpack.toml" in err
    assert not (workspace.layers / "greeting.sbom.spdx.json").exists()


def test_store_that_is_not_toml_fails_before_any_output_is_written(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "bad-store.txt").write_text("")
    assert build(workspace) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: store.toml: BuildResult.store cannot be written as TOML")
    assert err.count("\n") == 1
    for name in ("launch.toml", "store.toml", "launch.sbom.cdx.json"):
        assert not (workspace.layers / name).exists()


def test_debug_lines_show_only_with_bp_log_level_debug(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert build(workspace) == 0
    assert "store: " not in capsys.readouterr().out
    assert build(workspace, BP_LOG_LEVEL="DEBUG") == 0
    assert "  store: {'builds': 2}" in capsys.readouterr().out.splitlines()


def test_build_hook_returning_none_is_an_error(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    (workspace.app / "none.txt").write_text("")
    assert build(workspace) == 1
    assert "the build hook returned None" in capsys.readouterr().err


# -- as the lifecycle runs it ---------------------------------------------------------------


def _script(bp_dir: Path, phase: str) -> Path:
    """A bin/<phase> like the packaged one: python3 with the repo and fixtures on sys.path."""
    (bp_dir / "bin").mkdir(exist_ok=True)
    script = bp_dir / "bin" / phase
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            sys.path[:0] = [{str(REPO)!r}, {str(FIXTURE_PLUGINS)!r}]
            from cnbsdk.buildpack.runtime import main
            sys.exit(main("fixture_hello"))
            """
        )
    )
    script.chmod(0o755)
    return script


def test_runs_under_env_i_with_only_cnb_inputs(workspace: Workspace, tmp_path: Path) -> None:
    bp = tmp_path / "bp"
    bp.mkdir()
    (bp / "buildpack.toml").write_text((FIXTURE_PLUGINS / HELLO / "buildpack.toml").read_text())
    (workspace.app / "hello.txt").write_text("5")
    detect_script = _script(bp, "detect")
    build_script = _script(bp, "build")

    def run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        pairs = [f"{k}={v}" for k, v in env.items()]
        return subprocess.run(
            ["env", "-i", f"PATH={os.environ['PATH']}", *pairs, str(script)],
            cwd=workspace.app,
            capture_output=True,
            text=True,
            check=False,
        )

    detected = run(
        detect_script, {k: v for k, v in workspace.detect_env().items() if k != "CNB_BUILDPACK_DIR"}
    )
    assert detected.returncode == 0, detected.stderr
    assert BuildPlan.read(workspace.plan).requires[0].metadata["version"] == "5"

    built = run(build_script, workspace.build_env(CNB_BUILDPACK_DIR=str(bp)))
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines()[0] == "Hello Fixture 1.2.3"
    assert (workspace.layers / "launch.toml").is_file()

    (workspace.app / "hello.txt").unlink()
    failed = run(detect_script, workspace.detect_env(CNB_BUILDPACK_DIR=str(bp)))
    assert failed.returncode == 100
    assert "no hello.txt in the app directory" in failed.stdout
