"""``cnbsdk run`` on an app built by ``cnbsdk build``: a bash buildpack compiles a C HTTP
server with the build image's gcc; the run image (C library, no compiler) runs it.

Starts: bubblewrap (the build's sandbox and every ``cnbsdk run``), the C compiler (inside the
build image), the real command line as a subprocess (so signals reach a real process) and,
for pulling, the loopback docker-registry.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE, default_stack
from cnbsdk.lifecycle.run import find_in_rootfs, image_user, run_env
from cnbsdk.lifecycle.run_cache import prune
from cnbsdk.oci.digest import digest_hex
from tests.registry_server import free_port

FIXTURES = Path(__file__).parent / "run_fixtures"
REPO = Path(__file__).resolve().parents[2]
IMAGE = "run-tests/http-server"


@dataclass(frozen=True)
class Built:
    """The app image in a private store, and the env a ``cnbsdk run`` subprocess needs."""

    image: str
    digest: str
    env: dict[str, str]
    run_cache: Path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp("cnbsdk-home")
    run_cache = tmp_path_factory.mktemp("cnbsdk-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CNBSDK_HOME", str(home))
        patch.delenv("SOURCE_DATE_EPOCH", raising=False)
        default_stack()
        args = [
            "build", str(FIXTURES / "apps" / "http-server"),
            "--image", IMAGE,
            "--buildpack", str(FIXTURES / "buildpacks" / "c-server"),
            "--cache-dir", str(home / "build-cache"),
        ]  # fmt: skip
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        digest = result.output.split("Image digest: ")[1].split()[0]
        env = dict(os.environ)
        # The build's caches stay the user's (stack packages); runs unpack into a private one.
        env.update(CNBSDK_HOME=str(home), CNBSDK_CACHE_DIR=str(run_cache), PYTHONPATH=str(REPO))
        yield Built(IMAGE, digest, env, run_cache / "run-rootfs")


def cnbsdk_run(built: Built, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "run", *args],
        env=built.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_run(built: Built, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cnbsdk.cli.main", "run", *args],
        env=built.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def http_get(port: int, deadline: float, process: subprocess.Popen[str]) -> str:
    """The body at http://127.0.0.1:port/, polling until the server answers."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                return response.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"the server never answered:\n{output}") from None
            time.sleep(0.1)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# -- the web process on loopback ----------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_web_process_answers_on_loopback_and_stops_on_the_signal(
    built: Built, signum: signal.Signals
) -> None:
    port = free_port()
    process = start_run(built, built.image, "-e", f"PORT={port}", "-e", "GREETING=run tests")
    try:
        assert http_get(port, time.monotonic() + 30, process) == "Hello, run tests!\n"
        process.send_signal(signum)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read() if process.stdout else ""
    # The signal reached the server, which stopped cleanly: its exit code is cnbsdk's.
    assert code == 0, output
    assert output.splitlines() == [
        f"server: listening on port {port}",
        f"server: stopping on {signum.name}",
    ]
    assert not port_open(port)


def test_a_second_ctrl_c_kills_a_process_that_ignores_the_first(built: Built) -> None:
    marker = "61.4321"  # the sleep's argument, to find any survivor in /proc
    process = start_run(built, built.image, "--process", "stubborn", "--", marker)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)  # ignored: still running
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert code == 128 + signal.SIGKILL
    time.sleep(0.2)
    survivors = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    survivors.append(entry.name)
            except OSError:
                continue
    assert survivors == []  # the sandbox's pid namespace went with it


# -- process types, args, env, exit codes ------------------------------------------------------


def test_process_runs_as_the_image_user_in_the_app_dir_with_the_launch_env(built: Built) -> None:
    result = cnbsdk_run(built, built.image, "--process", "hello", "-e", "NAME=me")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "hello args: default args",
        "GREETING=world NAME=me",  # GREETING: the layer's launch default
        "who: 1001:1000 in /workspace home /home/cnb",  # the run image's User and passwd
    ]
    assert result.stderr == ""


def test_args_after_double_dash_replace_the_default_args(built: Built) -> None:
    result = cnbsdk_run(built, built.image, "--process", "hello", "--", "one", "two words")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "hello args: one two words"


def test_env_file_then_e_flags_later_wins(built: Built, tmp_path: Path) -> None:
    env_file = tmp_path / "run.env"
    env_file.write_text("# comment\nNAME=from-file\nGREETING=file greeting\n")
    args = ["--process", "hello", "--env-file", str(env_file), "-e", "NAME=from-flag"]
    result = cnbsdk_run(built, built.image, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "GREETING=file greeting NAME=from-flag"


def test_exit_code_and_stderr_are_passed_through(built: Built) -> None:
    result = cnbsdk_run(built, built.image, "--process", "fail")
    assert result.returncode == 7
    assert result.stderr == "failing on purpose\n"
    assert result.stdout == ""


def test_root_is_read_only_and_writes_do_not_outlive_the_run(built: Built) -> None:
    for _ in range(2):
        result = cnbsdk_run(built, built.image, "--process", "writes")
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "app dir writable",
            "tmp writable",
            "root read-only",
        ]  # and no "saw a previous run"


def test_unknown_process_type_is_the_launchers_one_line_error(built: Built) -> None:
    result = cnbsdk_run(built, built.image, "--process", "nope")
    assert result.returncode == 82
    assert result.stderr.splitlines() == [
        'launcher: no process type "nope" in /layers/config/metadata.toml'
        " (processes: fail, hello, stubborn, web, writes)"
    ]


def test_missing_image_is_one_line(built: Built) -> None:
    result = cnbsdk_run(built, "run-tests/no-such-app")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no image run-tests/no-such-app:latest in the local store"
    ]
    assert result.stdout == ""


def test_unpacked_once_per_digest(built: Built) -> None:
    assert cnbsdk_run(built, built.image, "--process", "hello").returncode == 0
    tree = built.run_cache / digest_hex(built.digest)
    inode = tree.stat().st_ino
    assert cnbsdk_run(built, built.image, "--process", "hello").returncode == 0
    assert tree.stat().st_ino == inode  # reused, not unpacked again
    assert [p.name for p in built.run_cache.iterdir() if p.is_dir()] == [tree.name]


def test_pulls_from_a_registry(built: Built, registry) -> None:  # type: ignore[no-untyped-def]
    remote = f"{registry.host}/run-tests/http-server:v1"
    env = {**built.env, **registry.auth_env()}
    copied = subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "copy", built.image, remote],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert copied.returncode == 0, copied.stderr
    result = cnbsdk_run(
        Built(built.image, built.digest, env, built.run_cache), remote, "--process", "fail"
    )
    assert result.returncode == 7, result.stderr


# -- plain images and bad input ------------------------------------------------------------------


def test_a_plain_image_runs_its_command_as_its_user(built: Built) -> None:
    script = 'echo "$(id -u):$(id -g) $HOME $PWD"'
    result = cnbsdk_run(built, DEFAULT_RUN_IMAGE, "--", "/bin/sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1001:1000 /home/cnb /\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [DEFAULT_RUN_IMAGE, "--process", "web"],
            "error: --process: cnbsdk/run:bookworm is not a buildpacks app image "
            "(it has no /cnb/lifecycle/launcher), so it has no process types",
        ),
        (
            [DEFAULT_RUN_IMAGE, "--", "/no/such/program"],
            "error: args: /no/such/program: no such command in cnbsdk/run:bookworm",
        ),
        (
            [DEFAULT_RUN_IMAGE],
            "error: config.Entrypoint: cnbsdk/run:bookworm has no Entrypoint or Cmd: "
            "give the command to run after --",
        ),
        (
            [IMAGE, "-e", "=value"],
            "error: --env: invalid environment variable '=value': expected NAME=VALUE",
        ),
        ([IMAGE, "--process", "../web"], "error: --process: invalid process type '../web'"),
    ],
)
def test_bad_input_is_one_line(built: Built, args: list[str], message: str) -> None:
    result = cnbsdk_run(built, *args)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [message]


# -- pieces without a sandbox ---------------------------------------------------------------------


def fake_rootfs(root: Path) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\ncnb:x:1001:1000::/home/cnb:/bin/bash\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\ncnb:x:1000:\nstaff:x:50:\n")
    return root


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, "/root")),
        ("cnb", (1001, 1000, "/home/cnb")),
        ("cnb:staff", (1001, 50, "/home/cnb")),
        ("1001", (1001, 1000, "/home/cnb")),
        ("4242:7", (4242, 7, "/")),
    ],
)
def test_image_user_resolves_names_in_the_images_files(
    tmp_path: Path, user: str, expected: tuple[int, int, str]
) -> None:
    resolved = image_user(user, fake_rootfs(tmp_path))
    assert (resolved.uid, resolved.gid, resolved.home) == expected


@pytest.mark.parametrize(
    ("user", "message"),
    [
        ("nobody", "app: config.User: user 'nobody' is not in the image's /etc/passwd"),
        ("cnb:wheel", "app: config.User: group 'wheel' is not in the image's /etc/group"),
    ],
)
def test_image_user_unknown_names(tmp_path: Path, user: str, message: str) -> None:
    with pytest.raises(BuildError) as caught:
        image_user(user, fake_rootfs(tmp_path), ref="app")
    assert str(caught.value) == message


def test_symlinks_resolve_inside_the_rootfs_never_on_the_host(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "cnb" / "lifecycle").mkdir(parents=True)
    (root / "cnb" / "lifecycle" / "launcher").write_text("")
    (root / "cnb" / "process").mkdir()
    (root / "cnb" / "process" / "web").symlink_to("/cnb/lifecycle/launcher")
    (root / "escape").symlink_to("/../../etc/hostname")
    assert find_in_rootfs(root, "/cnb/process/web") == root / "cnb/lifecycle/launcher"
    assert find_in_rootfs(root, "/escape") is None  # the host's /etc/hostname is not seen
    assert find_in_rootfs(root, "/cnb/process/worker") is None


def test_run_env_bare_names_come_from_the_environment(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("FROM_HOST\nUNSET_HERE\nA=1=2\n")
    env = run_env(["B= spaced ", "FROM_HOST"], [env_file], {"FROM_HOST": "host value"})
    assert env == {"FROM_HOST": "host value", "A": "1=2", "B": " spaced "}
    env_file.write_text("ok=1\n bad name=2\n")
    with pytest.raises(BuildError) as caught:
        run_env([], [env_file], {})
    assert str(caught.value) == (
        f"{env_file}: line 2: invalid environment variable 'bad name=2': expected NAME=VALUE"
    )


def test_prune_keeps_the_most_recent_and_those_in_use(tmp_path: Path) -> None:
    import fcntl

    names = [f"{n:064x}" for n in range(7)]
    for age, name in enumerate(names):
        (tmp_path / name / "usr").mkdir(parents=True)
        marker = tmp_path / f"{name}.in-use"
        marker.write_bytes(b"")
        os.utime(marker, (1000 - age, 1000 - age))  # names[0] is the most recent
    fd = os.open(tmp_path / f"{names[6]}.in-use", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # a run is using the oldest
        removed = prune(tmp_path, keep=3)
    finally:
        os.close(fd)
    assert sorted(removed) == names[3:6]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [*names[:3], names[6]]
