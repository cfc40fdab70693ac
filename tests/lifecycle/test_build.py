"""The build phase running real bash buildpacks (tests/lifecycle/build_fixtures/*) on the host
through ``HostRunner``: what ``bin/build`` is given, what is collected from what it wrote, and
how every kind of bad output fails the build (digest §3, rules 11-21). The last test runs them
in bubblewrap (``BubblewrapRunner``) on a tiny root made of the host's bash and coreutils."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.build import BuildOutcome, BuildpackFailed, build
from cnbsdk.lifecycle.order import BuildpackIndex, GroupElement
from cnbsdk.lifecycle.plan import ResolvedEntry, ResolvedPlan
from cnbsdk.lifecycle.sandbox import BubblewrapRunner, HostRunner
from cnbsdk.lifecycle.workspace import Workspace
from cnbsdk.spec.build_plan import Require
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.metadata_toml import MetadataToml
from cnbsdk.spec.target import Target

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).parent / "build_fixtures"
SECRET = "host-only-secret"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def install(workspace: Workspace, *names: str) -> list[GroupElement]:
    """Copy fixtures to ``<buildpacks>/<escaped id>/<version>`` (as a builder lays them out)."""
    directories = []
    for name in names:
        info = BuildpackDescriptor.read(FIXTURES / name / "buildpack.toml").buildpack
        target = workspace.buildpacks / info.id.escaped / str(info.version)
        shutil.copytree(FIXTURES / name, target)
        (target / "bin" / "build").chmod(0o755)
        directories.append(target)
    index = BuildpackIndex.from_directories(directories)
    return [
        GroupElement(bp.descriptor.buildpack.id, bp.descriptor.buildpack.version, False, bp)
        for bp in index
    ]


def run(
    workspace: Workspace,
    group: list[GroupElement],
    entries: tuple[ResolvedEntry, ...] = (),
    user_env: dict[str, str] | None = None,
) -> tuple[BuildOutcome, list[str]]:
    for name, value in (user_env or {}).items():
        (workspace.platform / "env" / name).write_text(value)
    lines: list[str] = []
    base_env = {"PATH": os.environ["PATH"], "HOME": "/home/cnb", "SECRET_TOKEN": SECRET}
    outcome = build(
        ResolvedPlan(group=tuple(group), entries=entries),
        HostRunner(workspace),
        workspace,
        base_env=base_env,
        target=Target(os="linux", arch="amd64"),
        log=lines.append,
    )
    return outcome, lines


def after(lines: list[str], marker: str) -> list[str]:
    return lines[lines.index(marker) + 1 :]


def test_rule_12_hello_gets_its_own_layers_dir_args_app_cwd_filtered_env_and_plan(
    workspace: Workspace,
) -> None:
    [hello] = install(workspace, "hello")
    entry = ResolvedEntry("greeting", (hello,), (Require("greeting", {"text": "hi"}),))
    outcome, lines = run(workspace, [hello], (entry,))

    own = workspace.layers / "tests_hello"
    assert "hello from bin/build" in lines  # streamed, unprefixed
    env = dict(line[len("env: ") :].split("=", 1) for line in lines if line.startswith("env: "))
    assert env["CNB_LAYERS_DIR"] == str(own)
    assert env["CNB_PLATFORM_DIR"] == str(workspace.platform)
    assert env["CNB_BUILDPACK_DIR"] == str(workspace.buildpacks / "tests_hello" / "1.0.0")
    assert (env["CNB_TARGET_OS"], env["CNB_TARGET_ARCH"]) == ("linux", "amd64")
    assert env["HOME"] == "/home/cnb"
    assert SECRET not in "\n".join(lines)
    assert f"args: {own} {workspace.platform} {env['CNB_BP_PLAN_PATH']}" in lines
    assert f"cwd: {workspace.app}" in lines
    plan_text = "\n".join(after(lines, "plan:"))
    assert tomllib.loads(plan_text.split("plan (arg 3)")[0]) == {
        "entries": [{"name": "greeting", "metadata": {"text": "hi"}}]
    }
    assert "plan (arg 3) is the same file: yes" in lines
    assert stat.S_IMODE(own.stat().st_mode) == 0o777
    assert not Path(env["CNB_BP_PLAN_PATH"]).exists()  # the plan is gone with the phase
    assert tomllib.loads(outcome.metadata_path.read_text()) == {
        "buildpacks": [{"id": "tests/hello", "version": "1.0.0", "api": "0.12"}]
    }


def test_rule_20_metadata_toml_holds_processes_sorted_with_buildpack_and_direct(
    workspace: Workspace,
) -> None:
    [processes] = install(workspace, "processes")
    outcome, lines = run(workspace, [processes])

    assert "processes declared" in lines
    written = tomllib.loads((workspace.layers / "config" / "metadata.toml").read_text())
    assert written == {
        "buildpack-default-process-type": "web",
        "buildpacks": [
            {
                "id": "tests/processes",
                "version": "2.0.0",
                "api": "0.12",
                "homepage": "https://example.invalid/processes",
            }
        ],
        "processes": [
            {
                "type": "db.migrate",
                "command": ["migrate"],
                "args": ["up"],
                "direct": True,
                "buildpack-id": "tests/processes",
                "exec-env": ["production"],
            },
            {
                "type": "web",
                "command": ["./server", "--port"],
                "args": ["8080"],
                "direct": True,
                "buildpack-id": "tests/processes",
                "working-dir": f"{workspace.app}/www",
            },
            {
                "type": "worker",
                "command": ["bash", "-c", "work"],
                "args": [],
                "direct": True,
                "buildpack-id": "tests/processes",
            },
        ],
        "labels": [{"key": "org.example.processes", "value": "from processes"}],
        "slices": [{"paths": ["public/**"]}],
    }
    assert MetadataToml.read(outcome.metadata_path) == outcome.metadata


def test_rule_15_env_comes_only_from_build_layers_of_earlier_buildpacks(
    workspace: Workspace,
) -> None:
    provider, consumer = install(workspace, "provider", "consumer")
    # A build layer of the *later* buildpack already there (as if restored from the cache).
    old = workspace.layers / "tests_consumer" / "old"
    (old / "env").mkdir(parents=True)
    (old / "env" / "CONSUMER_VAR").write_text("leaked")
    (old.parent / "old.toml").write_text("[types]\nbuild = true\n")
    _, lines = run(workspace, [provider, consumer])

    tools = workspace.layers / "tests_provider" / "tools"
    assert "provider sees CONSUMER_VAR=[]" in lines
    assert "GREETING=[hello from tools]" in lines
    assert "BUILD_ONLY=[only at build]" in lines
    assert "SEARCH=[tools]" in lines
    assert "LAUNCH_ONLY=[]" in lines  # launch-only layer
    assert "SCRATCH=[]" in lines  # all-false layer
    assert "MINE=[]" in lines  # its own layer does not change its own env
    assert f"PATH=[{tools}/bin:{os.environ['PATH']}]" in lines
    assert f"LD_LIBRARY_PATH=[{tools}/lib]" in lines
    assert "tool: tool ran" in lines


def test_rule_11_unmet_names_go_to_the_next_provider_and_met_ones_are_removed(
    workspace: Workspace,
) -> None:
    provider, consumer = install(workspace, "provider", "consumer")
    entries = (
        ResolvedEntry("greeting-dep", (provider, consumer), (Require("greeting-dep", {"v": "1"}),)),
        ResolvedEntry("met-dep", (provider, consumer), (Require("met-dep"),)),
    )
    outcome, lines = run(workspace, [provider, consumer], entries)

    provider_lines = after(lines, "provider plan:")
    end = next(i for i, line in enumerate(provider_lines) if line.startswith("GREETING="))
    provider_plan = tomllib.loads("\n".join(provider_lines[:end]))
    assert [e["name"] for e in provider_plan["entries"]] == ["greeting-dep", "met-dep"]
    consumer_lines = [line for line in after(lines, "consumer plan:") if "Warning" not in line]
    consumer_plan = tomllib.loads("\n".join(consumer_lines))
    assert consumer_plan == {"entries": [{"name": "greeting-dep", "metadata": {"v": "1"}}]}
    assert outcome.plan.entries == ()  # the consumer met what was left


def test_rule_14_layers_with_all_types_false_are_renamed_ignore(workspace: Workspace) -> None:
    [provider] = install(workspace, "provider")
    outcome, _ = run(workspace, [provider])

    own = workspace.layers / "tests_provider"
    assert (own / "scratch.ignore" / "env" / "SCRATCH").read_text() == "never"
    assert not (own / "scratch").exists()
    assert (own / "tools").is_dir() and (own / "runtime").is_dir()
    [output] = outcome.outputs
    assert output.layer_types()["scratch"].ignored
    assert output.store is not None and output.store.metadata == {"runs": 1}


def test_section_3_10_sbom_files_are_copied_by_layer_type(workspace: Workspace) -> None:
    [provider] = install(workspace, "provider")
    outcome, _ = run(workspace, [provider])

    sbom = workspace.layers / "sbom"
    found = sorted(str(p.relative_to(sbom)) for p in sbom.rglob("*") if p.is_file())
    assert found == [
        "build/tests_provider/sbom.syft.json",
        "build/tests_provider/tools/sbom.cdx.json",
        "cache/tests_provider/tools/sbom.cdx.json",
        "launch/tests_provider/runtime/sbom.spdx.json",
        "launch/tests_provider/sbom.syft.json",
    ]
    assert (sbom / "launch/tests_provider/runtime/sbom.spdx.json").read_text() == (
        '{"spdxVersion": "SPDX-2.3"}\n'
    )
    assert sorted(outcome.sbom_files) == sorted(sbom / path for path in found)


def test_rule_19_later_buildpack_wins_and_clears_the_default_with_a_warning(
    workspace: Workspace,
) -> None:
    provider, consumer = install(workspace, "provider", "consumer")
    outcome, lines = run(workspace, [provider, consumer])

    metadata = outcome.metadata
    assert [(p.type, p.buildpack_id, p.command) for p in metadata.processes] == [
        ("tool", "tests/provider", ("provider-tool",)),
        ("web", "tests/consumer", ("consumer-web",)),
    ]
    assert metadata.buildpack_default_process_type == ""
    assert [label.value for label in metadata.labels] == ["from provider", "yes"]
    warning = [line for line in lines if line.startswith("Warning:")]
    assert warning == [
        "Warning: buildpack tests/consumer@1.0.0 redefines the default process type 'web' "
        "without default = true: no default process remains"
    ]
    assert outcome.warnings == (warning[0][len("Warning: ") :],)


def test_a_nonzero_exit_fails_the_build_with_exit_51_semantics(workspace: Workspace) -> None:
    processes, misbehaving = install(workspace, "processes", "misbehaving")
    with pytest.raises(BuildpackFailed) as caught:
        run(workspace, [processes, misbehaving], user_env={"MISBEHAVE": "exit"})

    assert str(caught.value) == "buildpack tests/misbehaving@0.1.0 failed (exit 3)"
    assert caught.value.exit_code == 51
    assert "something went wrong" in caught.value.output
    assert not (workspace.layers / "config").exists()


BAD_OUTPUT = [
    (
        "launch-toml",
        "launch.toml",
        "processes[0].command: buildpack tests/misbehaving@0.1.0: must be an array of strings",
    ),
    ("launch-syntax", "launch.toml", "invalid TOML"),
    (
        "layer-toml",
        "dep.toml",
        "launch: buildpack tests/misbehaving@0.1.0: should be in the [types] table",
    ),
    (
        "sbom-undeclared",
        "dep.sbom.syft.json",
        "undeclared SBOM media type 'application/vnd.syft+json'",
    ),
    ("sbom-unknown", "launch.sbom.xml.json", "unknown SBOM file extension 'xml.json'"),
    (
        "symlink",
        "dep/etc/passwd",
        "symlink to '../../../../../../../../../etc/passwd' escapes the layers directory",
    ),
    ("symlink-toml", "launch.toml", "is a symlink"),
    (
        "process-type",
        "launch.toml",
        "processes[0].type: buildpack tests/misbehaving@0.1.0: invalid process type 'web server'",
    ),
    ("two-defaults", "launch.toml", "only one process may be the default"),
]


@pytest.mark.parametrize(("mode", "file", "message"), BAD_OUTPUT, ids=[b[0] for b in BAD_OUTPUT])
def test_bad_output_fails_the_build_naming_the_buildpack_and_the_file(
    workspace: Workspace, mode: str, file: str, message: str
) -> None:
    processes, misbehaving = install(workspace, "processes", "misbehaving")
    with pytest.raises(BuildError) as caught:
        run(workspace, [processes, misbehaving], user_env={"MISBEHAVE": mode})

    text = str(caught.value)
    expected_file = workspace.layers / "tests_misbehaving" / file
    assert text.startswith(f"{expected_file}: "), text
    assert "tests/misbehaving@0.1.0" in text
    assert message in text
    assert "\n" not in text
    assert not (workspace.layers / "config" / "metadata.toml").exists()
    assert not (workspace.layers / "sbom").exists()


def test_an_unmet_name_outside_the_plan_fails_naming_build_toml(workspace: Workspace) -> None:
    [misbehaving] = install(workspace, "misbehaving")
    with pytest.raises(BuildError) as caught:
        run(workspace, [misbehaving], user_env={"MISBEHAVE": "unmet-unknown"})

    assert str(caught.value) == (
        f"{workspace.layers}/tests_misbehaving/build.toml: unmet[0].name: buildpack "
        "tests/misbehaving leaves 'nothing-like-it' unmet, but its buildpack plan has no entry "
        "of that name"
    )


def test_a_buildpack_without_bin_build_fails_naming_it(workspace: Workspace) -> None:
    [hello] = install(workspace, "hello")
    (hello.directory / "bin" / "build").unlink()
    with pytest.raises(BuildError, match=r"buildpack tests/hello@1.0.0 has no bin/build"):
        run(workspace, [hello])


# -- in the sandbox: every path as the buildpack sees it ---------------------------------------


@pytest.fixture(scope="module")
def tiny_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build image root with just bash, coreutils the fixtures use, and their libraries."""
    root = tmp_path_factory.mktemp("rootfs")
    tools = ("bash", "env", "cat", "sort", "sed", "mkdir", "ln", "chmod", "grep")
    files: set[str] = set()
    for tool in tools:
        exe = shutil.which(tool, path="/usr/bin:/bin")
        assert exe is not None, tool
        files.add(os.path.realpath(exe))
        ldd = subprocess.run(["ldd", exe], capture_output=True, text=True, check=False).stdout
        files.update(word for word in ldd.split() if word.startswith("/"))
    for name in files:
        target = root / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(name, target)
    for link in ("bin", "lib", "lib64"):
        if os.path.islink(f"/{link}") and not (root / link).exists():
            (root / link).symlink_to(os.readlink(f"/{link}"))
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("cnb:x:1000:1000::/home/cnb:/usr/bin/bash\n")
    return root


def test_in_the_sandbox_buildpacks_get_the_paths_they_see(
    workspace: Workspace, tiny_rootfs: Path
) -> None:
    hello, provider, consumer = install(workspace, "hello", "provider", "consumer")
    runner = BubblewrapRunner(tiny_rootfs, workspace, uid=1000, gid=1000, network=False)
    lines: list[str] = []
    outcome = build(
        ResolvedPlan(group=(hello, provider, consumer), entries=()),
        runner,
        workspace,
        base_env=runner.base_env({"PATH": "/usr/bin:/bin"}),
        target=Target(os="linux", arch="amd64"),
        log=lines.append,
    )

    env = dict(line[len("env: ") :].split("=", 1) for line in lines if line.startswith("env: "))
    assert env["CNB_LAYERS_DIR"] == "/layers/tests_hello"
    assert env["CNB_BUILDPACK_DIR"] == "/cnb/buildpacks/tests_hello/1.0.0"
    assert env["CNB_PLATFORM_DIR"] == "/platform"
    assert env["CNB_BP_PLAN_PATH"].startswith("/tmp/")
    assert "cwd: /workspace" in lines
    assert f"args: /layers/tests_hello /platform {env['CNB_BP_PLAN_PATH']}" in lines
    assert "PATH=[/layers/tests_provider/tools/bin:/usr/bin:/bin]" in lines
    assert "tool: tool ran" in lines
    assert (workspace.layers / "sbom/launch/tests_provider/runtime/sbom.spdx.json").is_file()
    assert [p.type for p in outcome.metadata.processes] == ["tool", "web"]
