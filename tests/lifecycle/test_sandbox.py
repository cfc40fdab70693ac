"""The sandbox holds (cnbsdk.lifecycle.sandbox): bash buildpack programs run by the real
bubblewrap inside the real stack build image (created once with cnbsdk.stacks, unpacked into
the user's cache by cnbsdk.lifecycle.rootfs) cannot write outside /layers and /workspace,
see nothing of the host beyond the image, run as the image's CNB user, lose the network with
network=False; exit codes, output, streaming and timeouts pass through. Also HostRunner and
bin/detect through the sandbox (SandboxDetectRunner). Starts: bwrap, a loopback TCP server.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle import sandbox
from cnbsdk.lifecycle.detect import SandboxDetectRunner
from cnbsdk.lifecycle.order import BuildpackIndex, expand_order
from cnbsdk.lifecycle.rootfs import UnpackedImage, unpacked_rootfs
from cnbsdk.lifecycle.sandbox import BubblewrapRunner, HostRunner, RunResult
from cnbsdk.lifecycle.workspace import SANDBOX_PATHS, Workspace
from cnbsdk.stacks.create import create_stack
from tests.image_helpers import shipped_stack_today
from tests.lifecycle.builders import descriptor, order_of

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def build_image(tmp_path_factory: pytest.TempPathFactory) -> UnpackedImage:
    """The shipped stack's build image, as `cnbsdk build` gets it (warm caches: ~1 s)."""
    work = tmp_path_factory.mktemp("stack")
    shipped_stack_today(work)
    create_stack(
        work / "stack-definition.toml",
        build_image=f"oci:{work / 'layout'}:build",
        run_image=f"oci:{work / 'layout'}:run",
    )
    return unpacked_rootfs(f"oci:{work / 'layout'}:build")


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "ws")


def _runner(image: UnpackedImage, workspace: Workspace, **kwargs: bool) -> BubblewrapRunner:
    uid, gid = image.user_ids
    return BubblewrapRunner(image.rootfs, workspace, uid=uid, gid=gid, **kwargs)


def _bash(
    runner: sandbox.HostRunner | BubblewrapRunner,
    script: str,
    image: UnpackedImage | None = None,
    **kwargs: object,
) -> RunResult:
    env = runner.base_env(image.config.env_dict() if image else {})
    return runner.run(
        ["bash", "-c", script],
        cwd=runner.paths.app,
        env=env,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_buildpack_cannot_write_outside_layers_and_workspace(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    (workspace.buildpacks / "bp").mkdir()
    runner = _runner(build_image, workspace)
    targets = ["/etc/x", "/usr/x", "/usr/bin/x", "/x", "/cnb/buildpacks/bp/x", "/platform/x",
               "/cnb/build-config/x", "/home/x", "/root/x", "/var/x"]  # fmt: skip
    script = "".join(f"echo > {t} 2>/dev/null && echo 'WROTE {t}'\n" for t in targets)
    script += "chmod 777 /usr/bin/bash 2>/dev/null && echo 'WROTE chmod'\n"
    script += "echo layer > /layers/made; mkdir -p /workspace/out; echo app > /workspace/out/f\n"
    result = _bash(runner, script, build_image)

    assert result.exit_code == 0, result.output
    assert "WROTE" not in result.output
    assert (workspace.layers / "made").read_text() == "layer\n"
    assert (workspace.app / "out" / "f").read_text() == "app\n"
    # Written files belong to the invoking user on the host (the user namespace maps the
    # CNB user onto it); the exporter gives them the CNB uid/gid in the image.
    assert (workspace.layers / "made").stat().st_uid == os.getuid()
    assert (workspace.app / "out").stat().st_uid == os.getuid()
    assert not list(workspace.buildpacks.rglob("x")) and not (workspace.platform / "x").exists()
    assert not (build_image.rootfs / "x").exists()


def test_a_buildpack_sees_no_host_files_beyond_the_build_image(
    build_image: UnpackedImage, workspace: Workspace, tmp_path: Path
) -> None:
    marker = tmp_path / "host-marker"
    marker.write_text("secret")
    root_marker = Path("/root") / f".cnbsdk-sandbox-test-{os.getpid()}"
    root_marker.write_text("secret")
    try:
        paths = [str(marker), str(root_marker), "/work", str(Path.cwd()), "/etc/hostname"]
        script = "".join(f"test -e {p} && echo 'SEEN {p}'\n" for p in paths)
        script += "ls /tmp; ls -A /root 2>&1; cat /etc/os-release | head -1\n"
        result = _bash(_runner(build_image, workspace), script, build_image)
    finally:
        root_marker.unlink()
    assert "SEEN" not in result.output, result.output
    assert marker.name not in result.output and root_marker.name not in result.output
    assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in result.output


def test_a_buildpack_runs_as_the_cnb_user_with_its_home(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    script = 'echo "$(id -u):$(id -g):$(id -un):$HOME"; touch "$HOME/.cache-ok" && echo HOME-OK'
    result = _bash(_runner(build_image, workspace), script, build_image)
    assert result.output.splitlines() == ["1000:1000:cnb:/home/cnb", "HOME-OK"]
    # The home lives with the workspace, so it is kept between buildpacks of one build.
    assert (workspace.root / "sandbox-home" / ".cache-ok").exists()


def test_the_env_is_exactly_the_one_given(
    build_image: UnpackedImage, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_ONLY_SECRET", "s3cr3t")
    runner = _runner(build_image, workspace)
    env = {"PATH": "/usr/bin:/bin", "ODD": "caf\udce9 = x\nline2", "HOME": "/home/cnb"}
    result = runner.run(["env", "-0"], cwd="/workspace", env=env)
    dumped = dict(item.split("=", 1) for item in result.output.split("\0") if item)
    # bwrap's --chdir adds PWD (true, and what a shell would set anyway); nothing else.
    assert dumped == {**env, "ODD": "caf\ufffd = x\nline2", "PWD": "/workspace"}


@pytest.fixture
def tcp_server() -> Iterator[int]:
    """A loopback TCP server on the host that answers "pong" to each connection."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.sendall(b"pong\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def test_network_is_shared_by_default_and_cut_with_network_false(
    build_image: UnpackedImage, workspace: Workspace, tcp_server: int
) -> None:
    script = f"exec 3<>/dev/tcp/127.0.0.1/{tcp_server} && head -1 <&3"
    online = _bash(_runner(build_image, workspace), script, build_image)
    assert (online.exit_code, online.output) == (0, "pong\n")

    offline = _bash(_runner(build_image, workspace, network=False), script, build_image)
    assert offline.exit_code != 0
    assert "pong" not in offline.output
    assert "Connection refused" in offline.output or "unreachable" in offline.output


def test_exit_codes_and_interleaved_output_pass_through(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    lines: list[str] = []
    script = "echo out1; echo err1 >&2; echo out2; printf 'no newline'; exit 42"
    result = _bash(_runner(build_image, workspace), script, build_image, on_output=lines.append)
    assert result.exit_code == 42
    assert result.output == "out1\nerr1\nout2\nno newline"
    assert lines == ["out1", "err1", "out2", "no newline"]
    assert not result.timed_out


def test_on_output_streams_each_line_while_the_program_runs(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    """The program waits for a file the callback writes on seeing its first line: without
    streaming this would only end by the timeout."""
    go = workspace.app / "go"

    def on_line(line: str) -> None:
        if line == "first":
            go.write_text("")

    script = "echo first; for i in $(seq 100); do [ -e go ] && break; sleep 0.05; done; echo ok"
    result = _bash(_runner(build_image, workspace), script, build_image, on_output=on_line)
    assert result.output == "first\nok\n"


def test_a_timeout_kills_the_whole_process_tree(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    tag = f"{os.getpid()}7"
    script = f"(sleep 300{tag} & sleep 301{tag}) & sleep 302{tag}; echo never"
    started = time.monotonic()
    result = _bash(_runner(build_image, workspace), script, build_image, timeout=1)
    assert time.monotonic() - started < 10
    assert result.timed_out and result.exit_code == 137
    assert "never" not in result.output
    time.sleep(0.2)
    assert not _processes_mentioning(tag)


def test_missing_bubblewrap_says_how_to_go_on(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    sandbox.check_bubblewrap.cache_clear()
    try:
        with pytest.raises(BuildError) as caught:
            BubblewrapRunner(tmp_path, workspace, uid=1000, gid=1000)
    finally:
        sandbox.check_bubblewrap.cache_clear()
    message = str(caught.value)
    assert "bubblewrap" in message and "--no-sandbox" in message and "\n" not in message


def test_a_directory_that_is_no_image_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        BubblewrapRunner(tmp_path / "empty", workspace, uid=1000, gid=1000)
    assert str(caught.value) == f"{tmp_path / 'empty'}: not an unpacked image (no /usr)"


def test_host_runner_runs_on_the_host_at_host_paths(workspace: Workspace, tmp_path: Path) -> None:
    runner = HostRunner(workspace)
    assert runner.paths == workspace.host_paths()
    lines: list[str] = []
    result = runner.run(
        ["bash", "-c", "pwd; echo err >&2; exit 3"],
        cwd=runner.paths.app,
        env={"PATH": os.environ["PATH"]},
        on_output=lines.append,
    )
    assert (result.exit_code, lines) == (3, [str(workspace.app), "err"])

    tag = f"{os.getpid()}8"
    timed = runner.run(
        ["bash", "-c", f"sleep 303{tag} & sleep 304{tag}"],
        cwd=runner.paths.app,
        env={"PATH": os.environ["PATH"]},
        timeout=0.5,
    )
    assert timed.timed_out and timed.exit_code == 137
    time.sleep(0.2)
    assert not _processes_mentioning(tag)


def _processes_mentioning(tag: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if tag in cmdline:
                found.append(cmdline)
    return found


# -- bin/detect in the sandbox ----------------------------------------------------------------


def _install_fixture(workspace: Workspace, name: str) -> BuildpackIndex:
    """A fixture buildpack copied where builders put buildpacks: <buildpacks>/<id>/<version>."""
    target = workspace.buildpacks / name / "1.0.0"
    shutil.copytree(FIXTURES / name, target)
    (target / "bin" / "detect").chmod(0o755)
    descriptor(name, api="0.12").write(target / "buildpack.toml")
    return BuildpackIndex.from_directories([target])


def test_bin_detect_runs_in_the_sandbox_with_sandbox_paths(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    buildpacks = _install_fixture(workspace, "provider")
    (workspace.platform / "env" / "FROM_PLATFORM").write_text("yes")
    runner = _runner(build_image, workspace)
    detect_runner = SandboxDetectRunner(
        runner, workspace, base_env=runner.base_env(build_image.config.env_dict())
    )
    [group] = expand_order(order_of(["provider"]), buildpacks)
    verdict = detect_runner(group[0])

    assert verdict.status == "pass", verdict.output
    assert "detecting in /workspace" in verdict.output
    assert "args: /platform /tmp/detect-" in verdict.output
    assert verdict.plan is not None
    assert [p.name for p in verdict.plan.options[0].provides] == ["greeting"]
    assert SANDBOX_PATHS.buildpacks == "/cnb/buildpacks"
    # The plan file was a scratch file: nothing is left behind.
    assert not list((workspace.root / "sandbox-tmp").iterdir())


def test_bin_detect_failures_in_the_sandbox_are_verdicts(
    build_image: UnpackedImage, workspace: Workspace, tmp_path: Path
) -> None:
    index = _install_fixture(workspace, "crash")
    runner = _runner(build_image, workspace)
    detect_runner = SandboxDetectRunner(runner, workspace)
    [group] = expand_order(order_of(["crash"]), index)
    crashed = detect_runner(group[0])
    assert crashed.status == "error"

    outside = tmp_path / "elsewhere" / "provider"
    shutil.copytree(FIXTURES / "provider", outside)
    descriptor("provider", api="0.12").write(outside / "buildpack.toml")
    [group] = expand_order(order_of(["provider"]), BuildpackIndex.from_directories([outside]))
    verdict = detect_runner(group[0])
    assert verdict.status == "error"
    assert "is not in the build's buildpacks directory" in verdict.error


def test_a_sandbox_that_cannot_be_set_up_is_a_one_line_error(
    build_image: UnpackedImage, workspace: Workspace
) -> None:
    runner = _runner(build_image, workspace)
    shutil.rmtree(workspace.platform)
    with pytest.raises(BuildError) as caught:
        _bash(runner, "echo never", build_image)
    message = str(caught.value)
    assert message.startswith("bubblewrap could not start bash: ")
    assert "platform" in message and "\n" not in message
