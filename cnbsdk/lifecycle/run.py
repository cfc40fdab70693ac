"""Running an image without a daemon (``cnbsdk run``): its entrypoint under bubblewrap, in the
image's root filesystem, as the image's user, with its env and working directory.

What the process gets (docs/commands.md, ``cnbsdk run``):

- ``/`` is the image unpacked once per manifest digest (``run_cache.app_rootfs``), bound
  **read-only**; ``/proc`` and a minimal ``/dev`` are fresh;
- writable and private to the run, gone when it ends: ``/tmp``, a copy of the app directory
  (``$CNB_APP_DIR`` when the image has it, ``/workspace`` in a buildpacks app image) and a
  copy of the user's home directory (from the image's ``/etc/passwd``); nothing else is
  writable, so one run never changes what the next one starts from;
- the host's network (the process's ports are reachable on loopback), with the host's
  ``/etc/resolv.conf`` and ``/etc/hosts`` bound read-only;
- new user, pid, ipc, uts and cgroup namespaces: the image user is mapped onto the invoking
  user, and when the process exits everything it started goes with it;
- stdin, stdout and stderr are cnbsdk's own (inherited, not copied through a pipe).

SIGINT, SIGTERM and SIGHUP that reach cnbsdk are forwarded to the process (and everything in
its process group), which decides how to stop; a second one kills the sandbox. The exit code
is the process's (128 + N when signal N killed it). If cnbsdk dies, bubblewrap's
``--die-with-parent`` takes the process down with it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import FrameType
from typing import IO, Any

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle import buildpack_files
from cnbsdk.lifecycle.rootfs import UnpackedImage, numeric_id, remove_tree
from cnbsdk.lifecycle.run_cache import app_rootfs
from cnbsdk.lifecycle.sandbox import HOST_FILES, check_bubblewrap
from cnbsdk.lifecycle.signals import signals_handled

LAUNCHER = "/cnb/lifecycle/launcher"
PROCESS_DIR = "/cnb/process"
# Docker's PATH for an image that sets none.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_INSTALL_HINT = "install bubblewrap (the 'bwrap' command)"
_MAX_SYMLINKS = 40

StdStream = int | IO[Any] | None


@dataclass(frozen=True)
class ImageUser:
    """Who the process runs as: the image's ``User`` resolved in its own ``/etc/passwd``."""

    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class LaunchPlan:
    """What ``run_image`` starts: the command, its env and working directory, the user, and
    the directories that get a writable per-run copy."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: str
    user: ImageUser
    writable_copies: tuple[str, ...]
    process_link: str | None = None  # a per-run /tmp link to the launcher, named as the type


def run_image(
    ref: str,
    *,
    process: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    entrypoint: Sequence[str] | None = None,
    stdin: StdStream = None,
    stdout: StdStream = None,
    stderr: StdStream = None,
) -> int:
    """Run the image at ``ref`` (any transport; a bare name is the local store) and return
    the process's exit code (see the module docstring).

    ``process`` starts ``/cnb/process/<process>`` instead of the entrypoint; ``args``, when
    given, replace the image's ``Cmd`` (and are handed to the launcher, which replaces the
    process's default args by the launcher's rules); ``entrypoint`` replaces the image's
    (as docker's ``--entrypoint``); ``env`` is added to the image's Env.
    Raises a one-line ``CnbError`` for a missing image, a missing command or bubblewrap.
    """
    bwrap = _bubblewrap()
    with app_rootfs(ref) as unpacked:
        plan = plan_launch(
            unpacked, ref=ref, process=process, env=env or {}, args=args, entrypoint=entrypoint
        )
        with _scratch() as scratch:
            binds = _prepare_scratch(unpacked.rootfs, plan, scratch)
            options = _bwrap_options(plan, binds, rootfs=unpacked.rootfs)
            return _run_sandboxed(bwrap, options, plan, stdin=stdin, stdout=stdout, stderr=stderr)


@dataclass
class StartedImage:
    """A process ``started_image`` started and has not waited for: the same sandbox as
    ``run_image``'s, with its bubblewrap ``process`` and the ``plan`` it was started from."""

    process: subprocess.Popen[bytes]
    plan: LaunchPlan
    _sandbox: _Sandbox

    @property
    def exit_code(self) -> int | None:
        """The process's exit code once it has ended (128 + N for signal N), else None."""
        code = self.process.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM to the sandboxed process group, then SIGKILL to the sandbox after
        ``timeout`` seconds; returns the exit code."""
        if self.process.poll() is None:
            self._sandbox.signal_process(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        code = self.exit_code
        assert code is not None
        return code


@contextmanager
def started_image(
    ref: str,
    *,
    process: str | None = None,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    entrypoint: Sequence[str] | None = None,
    stdin: StdStream = subprocess.DEVNULL,
    stdout: StdStream = None,
    stderr: StdStream = None,
    stop_timeout: float = 10.0,
) -> Iterator[StartedImage]:
    """``run_image`` without waiting: the process runs while the block does, and is stopped
    (``StartedImage.stop``) when it ends, however it ends. Signals are not forwarded: the
    caller stops it (``--die-with-parent`` still takes it down if this process dies)."""
    bwrap = _bubblewrap()
    with app_rootfs(ref) as unpacked:
        plan = plan_launch(
            unpacked, ref=ref, process=process, env=env or {}, args=args, entrypoint=entrypoint
        )
        with _scratch() as scratch:
            binds = _prepare_scratch(unpacked.rootfs, plan, scratch)
            options = _bwrap_options(plan, binds, rootfs=unpacked.rootfs)
            sandbox = _Sandbox()
            with _sandboxed(
                sandbox, bwrap, options, plan, stdin=stdin, stdout=stdout, stderr=stderr
            ) as popen:
                started = StartedImage(popen, plan, sandbox)
                try:
                    yield started
                finally:
                    started.stop(stop_timeout)


def _bubblewrap() -> str:
    try:
        return check_bubblewrap()
    except BuildError as error:
        raise BuildError(error.message, hint=_INSTALL_HINT) from None


# -- what to start ----------------------------------------------------------------------------


def plan_launch(
    unpacked: UnpackedImage,
    *,
    ref: str,
    process: str | None,
    env: Mapping[str, str],
    args: Sequence[str],
    entrypoint: Sequence[str] | None = None,
) -> LaunchPlan:
    """The command, env, working directory and user for one run of ``unpacked``."""
    rootfs, config = unpacked.rootfs, unpacked.config
    user = image_user(config.user, rootfs, ref=ref)
    environment = dict(config.env_dict())
    environment.update(env)
    environment.setdefault("PATH", DEFAULT_PATH)
    environment.setdefault("HOME", user.home)

    process_link = None
    if process is not None:
        _check_process_name(process)
        if find_in_rootfs(rootfs, LAUNCHER) is None:
            raise BuildError(
                f"{ref} is not a buildpacks app image (it has no {LAUNCHER}), "
                "so it has no process types",
                field="--process",
            )
        # As docker's --entrypoint, choosing the process drops the image's Cmd.
        link = f"{PROCESS_DIR}/{process}"
        if find_in_rootfs(rootfs, link) is None:
            # The launcher is the one that knows the image's processes: called by this name
            # it says which exist (exit 82, docs/launcher.md).
            process_link = f"/tmp/.cnbsdk-process/{process}"
            link = process_link
        argv = (link, *args)
    else:
        if entrypoint is None:
            entrypoint = config.entrypoint or ()
            command = tuple(args) if args else (config.cmd or ())
        else:  # as docker's --entrypoint, replacing the entrypoint drops the image's Cmd
            command = tuple(args)
        argv = (*entrypoint, *command)
        if argv == (LAUNCHER,):
            raise BuildError(
                f"{ref} has no default process: give --process TYPE "
                f"({_process_types(rootfs) or 'it has no process types'}) or a command after "
                "--, or rebuild it with --default-process TYPE (or a buildpack that declares "
                "a default process)",
                field="config.Entrypoint",
            )
        if not argv:
            raise BuildError(
                f"{ref} has no Entrypoint or Cmd: give the command to run after --",
                field="config.Entrypoint",
            )
        if _find_command(rootfs, argv[0], environment.get("PATH", "")) is None:
            where = "config.Entrypoint" if entrypoint else "config.Cmd" if not args else "args"
            raise BuildError(f"{argv[0]}: no such command in {ref}", field=where)

    cwd = config.working_dir or "/"
    found = find_in_rootfs(rootfs, cwd)
    if found is None or not found.is_dir():
        raise BuildError(
            f"the working directory {cwd} is not a directory in {ref}", field="config.WorkingDir"
        )
    writable = [
        directory
        for directory in (environment.get("CNB_APP_DIR", ""), user.home)
        if _copyable(rootfs, directory)
    ]
    return LaunchPlan(
        argv=argv,
        env=environment,
        cwd=cwd,
        user=user,
        writable_copies=tuple(dict.fromkeys(writable)),
        process_link=process_link,
    )


def _process_types(rootfs: Path) -> str:
    """The image's process types (its ``/cnb/process/*`` links), comma-separated."""
    directory = find_in_rootfs(rootfs, PROCESS_DIR)
    if directory is None or not directory.is_dir():
        return ""
    return ", ".join(sorted(path.name for path in directory.iterdir()))


def _check_process_name(process: str) -> None:
    if not process or "/" in process or process in (".", "..") or "\0" in process:
        raise BuildError(f"invalid process type {process!r}", field="--process")


def _copyable(rootfs: Path, directory: str) -> bool:
    """A directory worth a writable per-run copy: absolute, not ``/`` and present."""
    if not directory.startswith("/") or PurePosixPath(directory) == PurePosixPath("/"):
        return False
    found = find_in_rootfs(rootfs, directory)
    return found is not None and found.is_dir()


def image_user(user: str, rootfs: Path, *, ref: str = "") -> ImageUser:
    """``User`` of an image config: ``uid[:gid]`` or ``name[:group]`` (names looked up in
    the image's ``/etc/passwd`` and ``/etc/group``); empty is root, as in Docker. A numeric
    uid without a group takes the passwd entry's group, else 0."""
    name, _colon, group = user.partition(":")
    passwd = _colon_file(rootfs / "etc" / "passwd")
    for part in (name, group):
        if part.isdigit() and numeric_id(part) is None:  # "²", 5000 digits, 2^40
            raise BuildError(f"{user[:40]!r} is not a uid[:gid]", file=ref, field="config.User")
    if not name:
        uid = 0
    elif numeric_id(name) is not None:
        uid = numeric_id(name) or 0
    else:
        entry = next((fields for fields in passwd if fields[0] == name), None)
        found = numeric_id(entry[2]) if entry is not None else None
        if found is None:
            raise BuildError(
                f"user {name[:40]!r} is not in the image's /etc/passwd",
                file=ref,
                field="config.User",
            )
        uid = found
    entry = next((f for f in passwd if f[2] == str(uid) and len(f) >= 6), None)
    if not group:
        gid = (numeric_id(entry[3]) if entry is not None else None) or 0
    elif numeric_id(group) is not None:
        gid = numeric_id(group) or 0
    else:
        group_entry = next(
            (f for f in _colon_file(rootfs / "etc" / "group") if f[0] == group), None
        )
        found = numeric_id(group_entry[2]) if group_entry and len(group_entry) >= 3 else None
        if found is None:
            raise BuildError(
                f"group {group[:40]!r} is not in the image's /etc/group",
                file=ref,
                field="config.User",
            )
        gid = found
    home = entry[5] if entry is not None and entry[5].startswith("/") else "/"
    return ImageUser(uid, gid, home)


def _colon_file(path: Path) -> list[list[str]]:
    try:  # the image's own file: a link in it is not followed out to the host's
        text = buildpack_files.read_bytes(path, root=path.parent.parent).decode(errors="replace")
    except BuildError:
        return []
    rows = [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]
    return [row for row in rows if len(row) >= 4]


def find_in_rootfs(rootfs: Path, path: str) -> Path | None:
    """The host path of ``path`` inside ``rootfs``, symlinks followed within the tree (an
    absolute link target starts again at ``rootfs``, never at the host's ``/``); ``None``
    when it does not exist."""
    parts = list(PurePosixPath("/", path).parts[1:])
    current: list[str] = []
    followed = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = rootfs.joinpath(*current, part)
        if candidate.is_symlink():
            followed += 1
            if followed > _MAX_SYMLINKS:
                return None
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                current = []
            parts = [*target.parts[1 if target.is_absolute() else 0 :], *parts]
            continue
        if not candidate.exists():
            return None
        current.append(part)
    return rootfs.joinpath(*current)


def _find_command(rootfs: Path, command: str, path: str) -> Path | None:
    """``command`` as bubblewrap's execvp finds it: a path, or looked up in ``path``."""
    if "/" in command:
        found = find_in_rootfs(rootfs, command if command.startswith("/") else f"/{command}")
        return found if found is not None and found.is_file() else None
    for directory in path.split(":"):
        if directory.startswith("/"):
            found = find_in_rootfs(rootfs, f"{directory}/{command}")
            if found is not None and found.is_file():
                return found
    return None


# -- the per-run scratch space ----------------------------------------------------------------


@contextmanager
def _scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="cnbsdk-run-"))
    try:
        yield path
    finally:
        remove_tree(path)


def _prepare_scratch(rootfs: Path, plan: LaunchPlan, scratch: Path) -> list[tuple[Path, str]]:
    """Make ``/tmp`` and the writable copies; returns (host directory, path inside) binds,
    parents before children."""
    tmp = scratch / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    binds = [(tmp, "/tmp")]
    if plan.process_link is not None:
        link = tmp / plan.process_link.removeprefix("/tmp/")
        link.parent.mkdir(parents=True)
        link.symlink_to(LAUNCHER)
    for number, directory in enumerate(plan.writable_copies):
        source = find_in_rootfs(rootfs, directory)
        assert source is not None  # checked by plan_launch
        copy = scratch / f"copy-{number}"
        shutil.copytree(source, copy, symlinks=True, copy_function=_copy_file)
        binds.append((copy, directory))
    binds.sort(key=lambda bind: len(PurePosixPath(bind[1]).parts))
    return binds


def _copy_file(source: str, destination: str) -> None:
    """Regular files with their mode and times; FIFOs recreated; devices and sockets (which
    an app directory has no use for) left out rather than opened."""
    mode = os.lstat(source).st_mode
    if stat.S_ISREG(mode):
        shutil.copy2(source, destination)
    elif stat.S_ISFIFO(mode):
        os.mkfifo(destination, stat.S_IMODE(mode))


# -- bubblewrap ---------------------------------------------------------------------------------


def _bwrap_options(
    plan: LaunchPlan, binds: Sequence[tuple[Path, str]], *, rootfs: Path
) -> list[str]:
    options = ["--ro-bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev"]
    for host, inside in binds:
        options += ["--bind", str(host), inside]
    for path in HOST_FILES:
        if os.path.exists(path):
            options += ["--ro-bind", path, path]
    options += [
        "--unshare-user", "--uid", str(plan.user.uid), "--gid", str(plan.user.gid),
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--chdir", plan.cwd,
    ]  # fmt: skip
    return options


def _run_sandboxed(
    bwrap: str,
    options: Sequence[str],
    plan: LaunchPlan,
    *,
    stdin: StdStream,
    stdout: StdStream,
    stderr: StdStream,
) -> int:
    sandbox = _Sandbox()
    with (
        sandbox.forwarding_signals(),
        _sandboxed(
            sandbox, bwrap, options, plan, stdin=stdin, stdout=stdout, stderr=stderr
        ) as process,
    ):
        try:
            code = process.wait()
        except BaseException:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    return 128 - code if code < 0 else code


@contextmanager
def _sandboxed(
    sandbox: _Sandbox,
    bwrap: str,
    options: Sequence[str],
    plan: LaunchPlan,
    *,
    stdin: StdStream,
    stdout: StdStream,
    stderr: StdStream,
) -> Iterator[subprocess.Popen[bytes]]:
    """bubblewrap started with ``plan``'s env (through a memfd) and its status pipe read by
    ``sandbox``; the pipe and the memfd are closed when the block ends."""
    env_args = ["--clearenv"]
    for name, value in plan.env.items():
        env_args += ["--setenv", name, value]
    args_fd = _memfd(env_args)
    status_read, status_write = os.pipe()
    sandbox.attach(status_read)
    try:
        command = [
            bwrap, "--args", str(args_fd), "--json-status-fd", str(status_write),
            *options, "--", *plan.argv,
        ]  # fmt: skip
        try:
            process = subprocess.Popen(
                command,
                env={},
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(args_fd, status_write),
                start_new_session=True,  # a terminal's Ctrl-C reaches cnbsdk only
            )
        except OSError as error:
            raise BuildError(
                f"cannot run bubblewrap: {error.strerror}", hint=_INSTALL_HINT
            ) from None
        os.close(status_write)
        status_write = -1
        sandbox.started(process)
        yield process
    finally:
        os.close(args_fd)
        if status_write >= 0:
            os.close(status_write)
        sandbox.finish()


class _Sandbox:
    """The running bubblewrap: reads its status pipe (the sandbox's pid, then its exit code)
    and forwards signals to the sandboxed process group."""

    def __init__(self) -> None:
        self._status: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._child_pid: int | None = None
        self._signals = 0
        self._reader = threading.Thread(target=self._read_status, daemon=True)

    def attach(self, status_fd: int) -> None:
        self._status = os.fdopen(status_fd, "rb")

    def started(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._reader.start()

    def finish(self) -> None:
        if self._reader.is_alive():
            self._reader.join(timeout=5)
        if self._status is not None:
            self._status.close()

    def signal_process(self, signum: int) -> None:
        """``signum`` to the sandboxed process's group (bubblewrap's own if not known yet)."""
        if self._child_pid is None and self._reader.is_alive():
            self._reader.join(timeout=1)  # the child's pid is the status pipe's first line
        target = self._child_pid
        if target is None and self._process is not None:
            target = self._process.pid
        if target is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(target, signum)

    def _read_status(self) -> None:
        assert self._status is not None
        for line in self._status:
            with suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict) and isinstance(value.get("child-pid"), int):
                    self._child_pid = value["child-pid"]

    @contextmanager
    def forwarding_signals(self) -> Iterator[None]:
        # Outside the main thread nothing is forwarded: --die-with-parent still applies.
        with signals_handled(self._forward, FORWARDED_SIGNALS):
            yield

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        process = self._process
        if process is None:
            raise KeyboardInterrupt  # before bubblewrap started: nothing to forward to
        if process.returncode is not None:
            return
        self._signals += 1
        # The sandbox's first process is bubblewrap's pid 1, which called setsid(): its
        # process group holds the app and whatever it started (pid 1 itself ignores it).
        if self._signals == 1 and self._child_pid is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self._child_pid, signum)
            return
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # --die-with-parent does the rest


def _memfd(args: Sequence[str]) -> int:
    """An in-memory file holding NUL-terminated arguments for ``bwrap --args``: the env never
    shows in ``ps``."""
    fd = os.memfd_create("cnbsdk-run-args", 0)
    data = memoryview(b"".join(os.fsencode(arg) + b"\0" for arg in args))
    while data:
        data = data[os.write(fd, data) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


# -- the user's env -----------------------------------------------------------------------------


def run_env(
    assignments: Sequence[str],
    env_files: Sequence[str | os.PathLike[str]],
    environ: Mapping[str, str],
) -> dict[str, str]:
    """``--env-file`` files, then ``-e`` assignments (later ones win): ``NAME=VALUE``, or a
    bare ``NAME`` taking its value from ``environ`` (left out when unset there, as Docker)."""
    env: dict[str, str] = {}
    for env_file in env_files:
        env.update(_read_env_file(Path(env_file), environ))
    for text in assignments:
        parsed = _assignment(text, environ)
        if parsed is not None:
            env[parsed[0]] = parsed[1]
    return env


def _assignment(
    text: str, environ: Mapping[str, str], *, field: str = "--env"
) -> tuple[str, str] | None:
    name, equals, value = text.partition("=")
    if not name or "\0" in text or any(c.isspace() for c in name):
        raise BuildError(f"invalid environment variable {text!r}: expected NAME=VALUE", field=field)
    if not equals:
        if name not in environ:
            return None
        value = environ[name]
    return name, value


def _read_env_file(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise BuildError(f"cannot read env file: {error.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise BuildError("env file is not UTF-8", file=str(path)) from None
    env: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            parsed = _assignment(stripped, environ, field=f"line {number}")
        except CnbError as error:
            raise BuildError(error.message, file=str(path), field=error.field) from None
        if parsed is not None:
            env[parsed[0]] = parsed[1]
    return env


__all__ = [
    "ImageUser",
    "LaunchPlan",
    "StartedImage",
    "image_user",
    "plan_launch",
    "run_env",
    "run_image",
    "started_image",
]
