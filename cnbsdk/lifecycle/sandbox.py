"""Running a buildpack's program: on the host (``HostRunner``, ``--no-sandbox``) or inside the
build image with bubblewrap (``BubblewrapRunner``).

The sandbox gives a buildpack what it gets in the reference lifecycle's build container and
nothing else of the host:

- ``/`` is the unpacked build image (``rootfs.unpacked_rootfs``), bound **read-only**, with a
  fresh ``/proc`` and a minimal ``/dev``;
- ``/workspace`` and ``/layers`` are the workspace's ``app`` and ``layers`` directories,
  bound read-write; ``/platform``, ``/cnb/buildpacks`` and ``/cnb/build-config`` read-only;
- ``/tmp`` and ``$HOME`` (the image user's home from the image's ``/etc/passwd``) are
  read-write scratch directories under the workspace root (``sandbox-tmp``, ``sandbox-home``),
  kept for the whole build as they would be in one build container, gone with the workspace;
- the program runs as the image's ``CNB_USER_ID``:``CNB_GROUP_ID`` in a new user namespace
  (plus pid, ipc, uts and cgroup namespaces), in its own session (it cannot reach the
  terminal), and dies with cnbsdk;
- the network is the host's unless ``network=False`` (a new, empty network namespace); the
  host's ``/etc/resolv.conf`` and ``/etc/hosts`` are bound read-only so names resolve.

Ownership: the user namespace maps only the sandbox uid/gid, onto the invoking user. Files
a buildpack writes under ``/layers`` and ``/workspace`` are therefore owned on the host by
whoever runs cnbsdk, and files the invoking user owns appear inside as owned by the CNB user
(so restored layers and the app stay writable; anything owned by other host uids shows up as
``nobody`` and is not). The CNB uid/gid reach the image only when the exporter writes the
layer tars with ``uid``/``gid`` set (``cnbsdk.oci.layer_tar``).

The environment is exactly the ``env`` given (``--clearenv`` then one ``--setenv`` each),
handed to bwrap through an in-memory file (``--args``), so values never show in ``ps``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle import buildpack_files, bytecode_cache
from cnbsdk.lifecycle.workspace import SANDBOX_PATHS, Paths, Workspace

if TYPE_CHECKING:
    from cnbsdk.lifecycle.order import LocatedBuildpack

OutputFn = Callable[[str], None]

# Where bubblewrap binds things that are not workspace directories.
SANDBOX_TMP = "/tmp"
# The platform's download cache shared between builds (verified files kept by checksum).
SANDBOX_DEPENDENCY_CACHE = "/var/cache/cnbsdk-dependencies"
HOST_FILES = ("/etc/resolv.conf", "/etc/hosts")
INSTALL_HINT = "install bubblewrap (the 'bwrap' command) or build with --no-sandbox"
# Variables of the lifecycle's own env a sandboxed program may still need (the proxies).
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


@dataclass(frozen=True)
class RunResult:
    """How a program ended and what it printed (stdout and stderr interleaved).

    ``exit_code`` follows the shell's ``$?``: a program killed by signal N gives 128 + N
    (bubblewrap reports it that way, and the host runner does the same for consistency).
    """

    exit_code: int
    output: str
    timed_out: bool = False


class Runner(Protocol):
    """Runs a program where buildpacks run, seeing the workspace at ``paths``."""

    paths: Paths
    temp_dir: Path  # a host directory the program sees at ``inner_path(temp_dir)``

    def inner_path(self, host_path: Path) -> str:
        """A host path under the workspace (or ``temp_dir``) as the program sees it."""
        ...

    def base_env(self, image_env: Mapping[str, str]) -> dict[str, str]:
        """The lifecycle's own env for this runner, before ``filtered_base_env``."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        on_output: OutputFn | None = None,
        timeout: float | None = None,
        buildpack: LocatedBuildpack | None = None,
    ) -> RunResult:
        """Run ``argv``; ``buildpack`` is the buildpack whose program it is, if any."""
        ...


class HostRunner:
    """No sandbox (``--no-sandbox``): programs run on the host, as the invoking user, with
    the workspace at its host paths. The caller warns the user; this prints nothing."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.paths = workspace.host_paths()
        self.temp_dir = workspace.root / "sandbox-tmp"

    def inner_path(self, host_path: Path) -> str:
        return str(Path(host_path).absolute())

    def base_env(self, image_env: Mapping[str, str]) -> dict[str, str]:
        """The host's env: the program uses the host's tools, so the image's is ignored."""
        return dict(os.environ)

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        on_output: OutputFn | None = None,
        timeout: float | None = None,
        buildpack: LocatedBuildpack | None = None,
    ) -> RunResult:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        try:
            return _stream(list(argv), cwd=cwd, env=dict(env), on_output=on_output, timeout=timeout)
        except OSError as error:
            raise BuildError(f"cannot run {argv[0]}: {error.strerror}") from None


class BubblewrapRunner:
    """Runs programs inside ``rootfs`` (an unpacked build image) with bubblewrap.

    Raises ``BuildError`` (one line, naming ``--no-sandbox``) when bwrap is missing or user
    namespaces are unavailable.
    """

    def __init__(
        self,
        rootfs: Path,
        workspace: Workspace,
        *,
        uid: int,
        gid: int,
        network: bool = True,
        dependency_cache: Path | None = None,
        bytecode: bool = True,
        bytecode_dir: Path | None = None,
    ) -> None:
        self.rootfs = Path(rootfs).absolute()
        # cnbsdk buildpacks' lib/ compiled once (bytecode_cache), under bytecode_dir if given
        self.bytecode = bytecode
        self.bytecode_dir = bytecode_dir
        self._bytecode_dirs: dict[Path, Path | None] = {}
        self.workspace = workspace
        self.uid = uid
        self.gid = gid
        self.network = network
        self.dependency_cache = dependency_cache
        self.paths = SANDBOX_PATHS
        self.temp_dir = workspace.root / "sandbox-tmp"
        self.home_dir = workspace.root / "sandbox-home"
        self.home = home_directory(self.rootfs, uid)
        self.bwrap = check_bubblewrap()
        if not (self.rootfs / "usr").is_dir():
            raise BuildError("not an unpacked image (no /usr)", file=str(self.rootfs))
        ensure_mount_points(
            self.rootfs,
            home=self.home,
            extra=(SANDBOX_DEPENDENCY_CACHE,) if dependency_cache else (),
        )

    def inner_path(self, host_path: Path) -> str:
        host_path = Path(host_path).absolute()
        if host_path == self.temp_dir or self.temp_dir in host_path.parents:
            return str(Path(SANDBOX_TMP) / host_path.relative_to(self.temp_dir))
        return self.workspace.inner_path(host_path, self.paths)

    def base_env(self, image_env: Mapping[str, str]) -> dict[str, str]:
        """The build image's env (its ``PATH``, ``CNB_STACK_ID`` ...), ``HOME`` inside the
        image, and the host's proxy settings (the network is the host's)."""
        env = dict(image_env)
        env["HOME"] = self.home
        env.update({name: os.environ[name] for name in PROXY_VARS if name in os.environ})
        return env

    def bwrap_args(self, *, cwd: str) -> list[str]:
        """The bubblewrap options (without the env) for one run."""
        ws = self.workspace
        args = [
            "--ro-bind", str(self.rootfs), "/",
            "--proc", "/proc",
            "--dev", "/dev",
            "--bind", str(self.temp_dir), SANDBOX_TMP,
            "--bind", str(ws.app), self.paths.app,
            "--bind", str(ws.layers), self.paths.layers,
            "--ro-bind", str(ws.platform), self.paths.platform,
            "--ro-bind", str(ws.buildpacks), self.paths.buildpacks,
            "--ro-bind", str(ws.build_config), self.paths.build_config,
        ]  # fmt: skip
        if self.home != "/":
            args += ["--bind", str(self.home_dir), self.home]
        if self.dependency_cache is not None:
            args += ["--bind", str(self.dependency_cache), SANDBOX_DEPENDENCY_CACHE]
        if self.network:
            for path in HOST_FILES:
                if os.path.exists(path):
                    args += ["--ro-bind", path, path]
        else:
            args.append("--unshare-net")
        args += [
            "--unshare-user", "--uid", str(self.uid), "--gid", str(self.gid),
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session",
            "--chdir", cwd,
        ]  # fmt: skip
        return args

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        on_output: OutputFn | None = None,
        timeout: float | None = None,
        buildpack: LocatedBuildpack | None = None,
    ) -> RunResult:
        self._prepare_scratch()
        environment = dict(env)
        environment.setdefault("HOME", self.home)
        extra_binds: list[str] = []
        bytecode = self._bytecode(buildpack) if buildpack is not None else None
        if bytecode is not None:
            extra_binds = ["--ro-bind", str(bytecode), bytecode_cache.INNER_PATH]
            environment[bytecode_cache.ENV_NAME] = bytecode_cache.INNER_PATH
        env_args: list[str] = ["--clearenv"]
        for name, value in environment.items():
            env_args += ["--setenv", name, value]
        status = _StatusPipe()
        try:
            with _args_fd(env_args) as args_fd:
                command = [
                    self.bwrap,
                    "--args", str(args_fd),
                    "--json-status-fd", str(status.write_fd),
                    *self.bwrap_args(cwd=cwd),
                    *extra_binds,
                    "--",
                    *argv,
                ]  # fmt: skip
                try:
                    result = _stream(
                        command,
                        cwd="/",
                        env={},
                        on_output=on_output,
                        timeout=timeout,
                        pass_fds=(args_fd, status.write_fd),
                        after_start=status.close_write,
                    )
                except OSError as error:
                    raise BuildError(
                        f"cannot run bubblewrap: {error.strerror}", hint=INSTALL_HINT
                    ) from None
            # bwrap reports "exit-code" only for a program it set up and started.
            started = any("exit-code" in item for item in status.statuses())
        finally:
            status.close()
        if not started and not result.timed_out:
            # bwrap failed to set up the sandbox or to exec the program: its message is the
            # last output line.
            last = result.output.strip().splitlines()[-1:] or ["no message"]
            raise BuildError(f"bubblewrap could not start {argv[0]}: {last[0]}")
        return result

    def _bytecode(self, buildpack: LocatedBuildpack) -> Path | None:
        """The read-only directory of the buildpack's compiled ``lib/`` (``bytecode_cache``),
        found once per build and buildpack; None for a buildpack that cannot use one."""
        directory = buildpack.directory
        if directory not in self._bytecode_dirs:
            found = None
            if self.bytecode and bytecode_cache.understands_cache(directory):
                found = bytecode_cache.compiled_lib(
                    self.rootfs,
                    self.bwrap,
                    directory,
                    key=buildpack.content_key,
                    cache_dir=self.bytecode_dir,
                )
            self._bytecode_dirs[directory] = found
        return self._bytecode_dirs[directory]

    def _prepare_scratch(self) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        if self.dependency_cache is not None:
            self.dependency_cache.mkdir(parents=True, exist_ok=True)
        if self.home != "/" and not self.home_dir.exists():
            # Start from the image's own home (dotfiles, tool config), as a container would.
            source = self.rootfs / self.home.lstrip("/")
            partial = self.home_dir.with_name(self.home_dir.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            if source.is_dir():
                shutil.copytree(source, partial, symlinks=True)
            else:
                partial.mkdir()
            partial.rename(self.home_dir)


# -- bubblewrap preconditions -----------------------------------------------------------------


@functools.cache
def check_bubblewrap() -> str:
    """The bwrap executable, after checking it can make a user namespace here."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise BuildError("bubblewrap (bwrap) is not installed", hint=INSTALL_HINT)
    probe = subprocess.run(
        [bwrap, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--", "true"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        reason = probe.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise BuildError(
            f"bubblewrap cannot create a user namespace here: {reason[0]}", hint=INSTALL_HINT
        )
    return bwrap


def home_directory(rootfs: Path, uid: int) -> str:
    """The home of ``uid`` in the image's ``/etc/passwd``; ``/`` if it has none (as Docker)."""
    try:  # the image's file, never a host file it links to
        text = buildpack_files.read_bytes(rootfs / "etc" / "passwd", root=rootfs).decode(
            errors="replace"
        )
    except BuildError:
        return "/"
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 6 and fields[2] == str(uid) and fields[5].startswith("/"):
            return fields[5]
    return "/"


def ensure_mount_points(rootfs: Path, *, home: str = "/", extra: Sequence[str] = ()) -> None:
    """Create what bubblewrap mounts onto (it cannot create them in a read-only root):
    the spec's directories, ``/tmp``, ``/proc``, ``/dev``, the home, ``extra`` directories,
    and plain files for ``resolv.conf`` and ``hosts`` (a symlink there would point outside
    the image)."""
    directories = ["proc", "dev", "tmp", *(p.lstrip("/") for p in _spec_dirs())]
    directories += [path.lstrip("/") for path in extra]
    if home != "/":
        directories.append(home.lstrip("/"))
    for directory in directories:
        path = rootfs / directory
        if not path.is_dir():
            if path.is_symlink() or path.exists():
                path.unlink()
            path.mkdir(parents=True, exist_ok=True)
    for name in HOST_FILES:
        path = rootfs / name.lstrip("/")
        if path.is_symlink() or (path.exists() and not path.is_file()):
            path.unlink()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")


def _spec_dirs() -> tuple[str, ...]:
    p = SANDBOX_PATHS
    return (p.app, p.layers, p.platform, p.buildpacks, p.build_config)


# -- running and streaming --------------------------------------------------------------------


def _stream(
    argv: list[str],
    *,
    cwd: str,
    env: dict[str, str],
    on_output: OutputFn | None,
    timeout: float | None,
    pass_fds: Sequence[int] = (),
    after_start: Callable[[], None] | None = None,
) -> RunResult:
    """Run ``argv`` in its own process group; hand each output line to ``on_output`` as it
    comes; on timeout (or any exception, Ctrl-C included) kill the whole group."""
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    if after_start is not None:
        after_start()
    timed_out = threading.Event()
    reaping = threading.Lock()
    reaped = False

    def expire() -> None:
        with reaping:  # never signal a group id that may already be reused
            if not reaped:
                timed_out.set()
                _kill_group(process)

    timer = threading.Timer(timeout, expire) if timeout is not None else None
    chunks: list[str] = []
    try:
        if timer is not None:
            timer.daemon = True
            timer.start()
        assert process.stdout is not None
        for line in _lines(process.stdout):
            chunks.append(line)
            if on_output is not None:
                on_output(line.rstrip("\n"))
        # Wait for the exit without reaping, so the group id cannot be reused yet, then
        # kill what is left in the group (daemons a buildpack started), then reap.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        with reaping:
            _kill_group(process)
            reaped = True
        code = process.wait()
    except BaseException:
        _kill_group(process)
        process.wait()
        raise
    finally:
        if timer is not None:
            timer.cancel()
        if process.stdout is not None:
            process.stdout.close()
    if code < 0:
        code = 128 - code
    return RunResult(code, "".join(chunks), timed_out=timed_out.is_set())


def _lines(stream: IO[bytes]) -> Iterator[str]:
    for raw in iter(stream.readline, b""):
        yield raw.decode("utf-8", errors="replace")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def _args_fd(args: Sequence[str]) -> Iterator[int]:
    """An in-memory file holding NUL-terminated arguments for ``bwrap --args``."""
    fd = os.memfd_create("cnbsdk-bwrap-args", 0)
    try:
        data = b"".join(os.fsencode(arg) + b"\0" for arg in args)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


class _StatusPipe:
    """A pipe for ``--json-status-fd``: bwrap writes ``{"exit-code": N}`` when a program it
    started exits, so a run without it failed in bwrap itself (set-up or exec)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.write_open = True

    def close_write(self) -> None:
        if self.write_open:
            self.write_open = False
            os.close(self.write_fd)

    def close(self) -> None:
        self.close_write()
        os.close(self.read_fd)

    def statuses(self) -> list[dict[str, object]]:
        """The JSON objects bwrap wrote (one per line); read after bwrap has exited."""
        self.close_write()
        chunks = []
        while chunk := os.read(self.read_fd, 65536):
            chunks.append(chunk)
        lines = b"".join(chunks).decode(errors="replace").splitlines()
        out = []
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out
