"""An app image started from a test as ``cnbsdk run`` starts it (``lifecycle.run``: bubblewrap,
the image's user, its entrypoint or a process type through the launcher), on a free loopback
port given in ``PORT``, and stopped when the test ends (the fixture stops what it started).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from cnbsdk.errors import CnbError
from cnbsdk.lifecycle.run import LAUNCHER, StartedImage, started_image

LAST_LINES = 30
# Waiting for the port: 2 ms first (a small app listens within ~10 ms), doubling up to 50 ms.
POLL_FIRST, POLL_MAX = 0.002, 0.05


@dataclass(frozen=True)
class CommandRun:
    """One command run to its end in the image."""

    command: str
    exit_code: int
    output: str  # stdout and stderr interleaved

    def __str__(self) -> str:
        return self.output


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: str
    headers: Mapping[str, str]


class StartedApp:
    """A running image: ``url``, ``port``, ``logs``, ``get(path)``, ``exec(command)``,
    ``stop()``; usable as a context manager."""

    def __init__(
        self, ref: str, env: Mapping[str, str], port: int | None, log_file: IO[bytes]
    ) -> None:
        self.ref = ref
        self.env = dict(env)
        self.port = port
        self._log_file = log_file
        self._stack = contextlib.ExitStack()
        self._started: StartedImage | None = None
        self._final_logs: str | None = None
        self.exit_code: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise AssertionError("started with port=False: there is no URL")
        return f"http://127.0.0.1:{self.port}"

    @property
    def logs(self) -> str:
        """Everything the process printed so far (stdout and stderr interleaved)."""
        if self._final_logs is not None:
            return self._final_logs
        return Path(self._log_file.name).read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        return self._started is not None and self._started.exit_code is None

    def get(self, path: str = "/", *, timeout: float = 10.0) -> HttpResponse:
        """``GET url+path``; an HTTP error status is returned, not raised."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
                body = response.read().decode("utf-8", errors="replace")
                return HttpResponse(response.status, body, dict(response.headers))
        except urllib.error.HTTPError as error:
            body = error.read().decode("utf-8", errors="replace")
            return HttpResponse(error.code, body, dict(error.headers))

    def exec(self, command: str, *, timeout: float = 60.0) -> CommandRun:
        """Run ``command`` in the same image with the same env (a fresh sandbox: the
        running process's files in ``/tmp`` are not shared)."""
        return run_command(self.ref, command, env=self.env, timeout=timeout)

    def stop(self) -> int | None:
        """Stop the process (SIGTERM, then SIGKILL) and return its exit code."""
        if self._started is not None:
            self.exit_code = self._started.stop()
            self._started = None
        self._stack.close()
        if self._final_logs is None:
            with contextlib.suppress(OSError):
                self._final_logs = self.logs  # still readable after the stop
            with contextlib.suppress(OSError):
                self._log_file.close()
                Path(self._log_file.name).unlink()
        return self.exit_code

    def __enter__(self) -> StartedApp:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<StartedApp {self.ref} {self.url if self.port else ''}>"

    def _start(self, process: str | None, args: Sequence[str]) -> None:
        self._started = self._stack.enter_context(
            started_image(
                self.ref,
                process=process,
                env=self.env,
                args=args,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
            )
        )

    def _wait_listening(self, timeout: float) -> str | None:
        """None once the port accepts a connection, else why not."""
        assert self.port is not None and self._started is not None
        deadline = time.monotonic() + timeout
        pause = POLL_FIRST
        while time.monotonic() < deadline:
            code = self._started.exit_code
            if code is not None:
                return f"exited with code {code} before listening on port {self.port}"
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return None
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX)
        return f"did not listen on port {self.port} within {timeout:g}s"


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _log_file() -> IO[bytes]:
    return tempfile.NamedTemporaryFile(prefix="cnbsdk-app-", suffix=".log", delete=False)


def start_app(
    ref: str,
    *,
    process: str | None = None,
    env: Mapping[str, str],
    port: bool | int = True,
    args: Sequence[str] = (),
    wait: bool = True,
    timeout: float = 30.0,
) -> StartedApp:
    """Start ``ref``; with a port, wait until it listens there. Fails the test (one line and
    the process's output, nothing left running) when it cannot start or never listens."""
    chosen = None if port is False else free_port() if port is True else int(port)
    full_env = dict(env)
    if chosen is not None:
        full_env.setdefault("PORT", str(chosen))
    app = StartedApp(ref, full_env, chosen, _log_file())
    problem = ""
    try:
        app._start(process, args)
    except CnbError as error:
        app.stop()
        problem = str(error)
    except BaseException:
        app.stop()
        raise
    if problem:
        pytest.fail(f"start: {problem}", pytrace=False)
    if chosen is not None and wait:
        waited = app._wait_listening(timeout)
        if waited is not None:
            problem = waited
            output = app.logs
            code = app.stop()
            lines = output.rstrip("\n").splitlines()[-LAST_LINES:]
            shown = "".join(f"\n  | {line}" for line in lines) or "\n  (no output)"
            if "exited" not in problem:
                problem += f" (stopped: exit code {code})"
            pytest.fail(f"start: {ref} {problem}; its output:{shown}", pytrace=False)
    return app


def run_command(
    ref: str, command: str, *, env: Mapping[str, str], timeout: float = 60.0
) -> CommandRun:
    """``command`` run by the launcher through bash (so the layers' launch env applies),
    in a fresh sandbox of ``ref``, to its end."""
    log = _log_file()
    problem = ""
    code: int | None = None
    try:
        try:
            with started_image(
                ref,
                entrypoint=(LAUNCHER,),
                args=(command,),
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            ) as started:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    started.process.wait(timeout=timeout)
                if started.exit_code is None:
                    started.stop()
                    problem = f"{command!r} did not finish within {timeout:g}s"
                code = started.exit_code
        except CnbError as error:
            problem = str(error)
        output = Path(log.name).read_text(errors="replace")
        if problem:
            pytest.fail(f"run: {problem}; its output:\n{output}", pytrace=False)
        assert code is not None
        return CommandRun(command, code, output)
    finally:
        log.close()
        Path(log.name).unlink(missing_ok=True)


__all__ = ["CommandRun", "HttpResponse", "StartedApp", "free_port", "run_command", "start_app"]
