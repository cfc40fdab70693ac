"""exec.d: installing programs into a layer, and Python programs reporting env on fd 3."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnbsdk.buildpack import BuildpackError, Layers, Logger, write_exec_d_output
from cnbsdk.errors import SpecError
from cnbsdk.spec.exec_d import ExecDOutput

REPO = Path(__file__).resolve().parents[2]


def run_with_fd3(program: Path) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """Run ``program`` as the launcher does: fd 3 open for writing to a pipe."""
    read_end, write_end = os.pipe()
    try:
        # bash moves the pipe to fd 3 and execs the program, as the launcher's fd 3 is.
        completed = subprocess.run(
            ["bash", "-c", f'exec "$0" 3>&{write_end} {write_end}>&-', str(program)],
            pass_fds=(write_end,),
            env={"PATH": os.environ["PATH"]},
            capture_output=True,
            check=False,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        return completed, reader.read()


def python_program(path: Path, body: str) -> Path:
    path.write_text(
        f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
        + textwrap.dedent(body)
    )
    path.chmod(0o755)
    return path


def test_python_exec_d_program_writes_toml_to_fd_3(tmp_path: Path) -> None:
    program = python_program(
        tmp_path / "memory",
        """
        from cnbsdk.buildpack import write_exec_d_output
        write_exec_d_output({"JAVA_TOOL_OPTIONS": "-Xmx512m", "NODE_OPTIONS": 'say "hi"'})
        """,
    )
    completed, output = run_with_fd3(program)
    assert completed.returncode == 0, completed.stderr
    assert ExecDOutput.from_toml(output.decode()).env == {
        "JAVA_TOOL_OPTIONS": "-Xmx512m",
        "NODE_OPTIONS": 'say "hi"',
    }


def test_without_fd_3_the_error_says_who_opens_it(tmp_path: Path) -> None:
    program = python_program(
        tmp_path / "lonely",
        """
        from cnbsdk.buildpack import write_exec_d_output
        from cnbsdk.errors import CnbError
        try:
            write_exec_d_output({"A": "b"})
        except CnbError as error:
            print(error)
            sys.exit(7)
        """,
    )
    completed = subprocess.run([str(program)], capture_output=True, text=True, check=False)
    assert completed.returncode == 7
    assert "cannot write exec.d output to file descriptor 3" in completed.stdout


def test_write_exec_d_output_refuses_bad_names() -> None:
    with pytest.raises(SpecError, match=r"exec\.d output: .*BAD NAME"):
        write_exec_d_output({"BAD NAME": "x"}, fd=1)
    with pytest.raises(SpecError, match=r"exec\.d output: "):
        write_exec_d_output({"N": 1}, fd=1)  # type: ignore[dict-item]


def test_layer_installs_exec_d_programs(tmp_path: Path) -> None:
    program = tmp_path / "helper"
    program.write_text("#!/bin/sh\necho 'A=\"1\"' >&3\n")
    layers_dir = tmp_path / "layers"
    layers_dir.mkdir()
    layer = Layers(layers_dir, logger=Logger({})).cached("helper", launch=True)

    everywhere = layer.write_exec_d("memory", program)
    web_only = layer.write_exec_d("web-memory", program, process="web")

    assert everywhere == layer.path / "exec.d" / "memory"
    assert web_only == layer.path / "exec.d" / "web" / "web-memory"
    assert os.access(everywhere, os.X_OK) and os.access(web_only, os.X_OK)
    completed, output = run_with_fd3(everywhere)
    assert completed.returncode == 0
    assert output == b'A="1"\n'


def test_missing_program_is_an_error(tmp_path: Path) -> None:
    layer = Layers(tmp_path, logger=Logger({})).cached("helper", launch=True)
    with pytest.raises(BuildpackError, match=r"exec\.d program 'x': no file at"):
        layer.write_exec_d("x", tmp_path / "nope")


def test_writing_the_same_program_again_leaves_the_layer_untouched(tmp_path: Path) -> None:
    """A reused layer whose buildpack installs its exec.d program again (as most do on every
    build) must stay byte- and inode-identical, or the lifecycle tars it again at export."""
    from cnbsdk.buildpack.launch_shell import shell_exec_d

    layer = Layers(tmp_path, logger=Logger({})).cached("helper", launch=True)
    first = shell_exec_d(layer, "memory", "echo 'A=\"1\"' >&3")
    before = (os.stat(first), os.stat(layer.path))
    again = shell_exec_d(layer, "memory", "echo 'A=\"1\"' >&3")
    assert again == first
    assert (os.stat(again), os.stat(layer.path)) == before  # no staging file came and went

    shell_exec_d(layer, "memory", "echo 'A=\"2\"' >&3")
    assert b'A="2"' in first.read_bytes() and os.stat(first).st_ino != before[0].st_ino
    assert os.access(first, os.X_OK)
