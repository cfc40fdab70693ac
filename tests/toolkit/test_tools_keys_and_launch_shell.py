"""The author toolkit's build-side helpers: running a tool with its output streamed and a
one-line failure, cache keys from files, and the shell library of exec.d programs (run by
the machine's dash, as the run image's /bin/sh would)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cnbsdk.buildpack import Logger
from cnbsdk.buildpack.cache_keys import files_digest
from cnbsdk.buildpack.launch_shell import shell_exec_d
from cnbsdk.buildpack.tools import run_tool
from cnbsdk.errors import BuildpackError


def test_a_tool_streams_its_output_indented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_tool(["sh", "-c", "echo one; echo two >&2"], logger=Logger(), cwd=tmp_path)
    assert run.output == "one\ntwo"
    assert capsys.readouterr().out.splitlines() == [
        "    Running 'sh -c 'echo one; echo two >&2''",
        "      one",
        "      two",
    ]


def test_a_failing_tool_is_one_line_with_status_and_last_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = "for i in 1 2 3 4 5; do echo line $i; done; echo 'npm ERR! bad lockfile' >&2; exit 3"
    with pytest.raises(BuildpackError) as caught:
        run_tool(["sh", "-c", script], logger=Logger())
    message = str(caught.value)
    assert "\n" not in message
    assert message.endswith("failed with exit status 3: line 4 | line 5 | npm ERR! bad lockfile")
    assert "      line 1" in capsys.readouterr().out  # the whole output was shown as it came


def test_secrets_never_show(capsys: pytest.CaptureFixture[str]) -> None:
    token = "npm_SECRETtoken123"
    with pytest.raises(BuildpackError) as caught:
        run_tool(
            ["sh", "-c", f"echo auth={token}; exit 1", token],
            logger=Logger(),
            secrets=[token],
        )
    shown = capsys.readouterr().out + str(caught.value)
    assert token not in shown and "auth=***" in shown


def test_a_missing_tool_says_so() -> None:
    with pytest.raises(
        BuildpackError,
        match=r"'no-such-tool-cnbsdk x' cannot run: no-such-tool-cnbsdk is not installed",
    ):
        run_tool(["no-such-tool-cnbsdk", "x"], logger=Logger())


def test_cache_keys_follow_content_not_times(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "src").mkdir(parents=True)
    (app / "node_modules/x").mkdir(parents=True)
    (app / "package.json").write_text('{"name": "a"}')
    (app / "src/index.js").write_text("1")
    (app / "node_modules/x/index.js").write_text("ignored")
    key = files_digest(app, ["package.json", "package-lock.json"])
    tree = files_digest(app, ["**"], exclude=["node_modules"])

    os.utime(app / "package.json", (1, 1))
    assert files_digest(app, ["package.json", "package-lock.json"]) == key
    (app / "node_modules/x/index.js").write_text("changed, but excluded")
    assert files_digest(app, ["**"], exclude=["node_modules"]) == tree

    (app / "package-lock.json").write_text("{}")  # a named file appears
    with_lock = files_digest(app, ["package.json", "package-lock.json"])
    assert with_lock != key
    os.chmod(app / "package-lock.json", 0o755)  # the executable bit counts
    assert files_digest(app, ["package.json", "package-lock.json"]) != with_lock
    (app / "src/index.js").write_text("2")
    assert files_digest(app, ["**"], exclude=["node_modules"]) != tree
    assert files_digest(app, ["src/*.js"]) != files_digest(app, ["package.json"])


# What the run image has of the tools the library could call (coreutils, libc-bin's
# getconf): a PATH of only these proves it needs no sed, awk or grep.
RUN_IMAGE_TOOLS = ("cat", "nproc", "getconf", "head", "tr", "cut")


def _run_image_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "run-image-bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        for tool in RUN_IMAGE_TOOLS:
            found = shutil.which(tool)
            if found:
                (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _exec_d(tmp_path: Path, body: str, env: dict[str, str]) -> str:
    layer = tmp_path / "layer"
    layer.mkdir(exist_ok=True)
    program = shell_exec_d(layer, "probe", body)
    assert os.access(program, os.X_OK)
    read, write = os.pipe()
    result = subprocess.run(  # as the launcher runs it: the program's fd 3 is a pipe
        ["/bin/sh", str(program)],
        env={"PATH": _run_image_path(tmp_path), **env},
        preexec_fn=lambda: os.dup2(write, 3),
        pass_fds=(3,),
        capture_output=True,
        text=True,
        check=False,
    )
    os.close(write)
    with os.fdopen(read) as stream:
        toml = stream.read()
    assert result.returncode == 0, result.stderr
    return toml


BODY = 'cnb_export MEMORY "$(cnb_memory_limit)"\ncnb_export CPUS "$(cnb_cpu_count)"\n'


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "memory", "cpus"),
    [
        ({"memory.max": "268435456", "cpu.max": "150000 100000"}, "268435456", "2"),
        ({"memory.max": "max", "cpu.max": "max 100000"}, "", None),
        (
            {
                "memory/memory.limit_in_bytes": "1073741824",
                "cpu/cpu.cfs_quota_us": "300000",
                "cpu/cpu.cfs_period_us": "100000",
            },
            "1073741824",
            "3",
        ),
        ({"memory/memory.limit_in_bytes": "9223372036854771712"}, "", None),
    ],
)
def test_the_launch_library_reads_cgroup_v2_and_v1(
    tmp_path: Path, files: dict[str, str], memory: str, cpus: str | None
) -> None:
    root = _cgroup(tmp_path / "cgroup", files)
    toml = _exec_d(tmp_path, BODY, {"CNB_CGROUP_ROOT": str(root)})
    lines = toml.splitlines()
    assert lines[0] == f'MEMORY = "{memory}"'
    online = str(os.cpu_count() or 1)
    assert lines[1] == f'CPUS = "{cpus or online}"'


def test_the_documented_overrides_win(tmp_path: Path) -> None:
    root = _cgroup(tmp_path / "cgroup", {"memory.max": "268435456"})
    env = {"CNB_CGROUP_ROOT": str(root), "BPL_MEMORY_LIMIT": "1Gi", "BPL_CPU_COUNT": "4"}
    assert _exec_d(tmp_path, BODY, env).splitlines() == ['MEMORY = "1073741824"', 'CPUS = "4"']


def test_exported_values_are_valid_toml_strings(tmp_path: Path) -> None:
    import tomllib

    toml = _exec_d(tmp_path, 'cnb_export OPTS "-Da=\\"b\\" C:\\\\path"\n', {})
    assert tomllib.loads(toml) == {"OPTS": '-Da="b" C:\\path'}


def test_a_bad_override_fails_the_program_with_a_message(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    program = shell_exec_d(layer, "probe", 'limit=$(cnb_memory_limit)\necho "$limit"\n')
    result = subprocess.run(
        ["/bin/sh", str(program)],
        env={"PATH": _run_image_path(tmp_path), "BPL_MEMORY_LIMIT": "lots"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "BPL_MEMORY_LIMIT=lots: expected bytes or a size like 512M" in result.stderr
