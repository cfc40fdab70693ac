"""``cnbsdk serve`` as a real process for the web tests: started with ``--listen
127.0.0.1:0`` on a private CNBSDK_HOME and a known token, its URL read from the ``Web:``
line it prints; stopped with SIGTERM (it must exit 0 and free the port). And reading
Server-Sent Events off a streamed response."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

TOKEN = "test-token-0123456789"
WEB_LINE = re.compile(r"^Web: (http://127\.0\.0\.1:(\d+)/) \(trigger token: (\S+)\)$", re.M)


@dataclass
class Serve:
    process: subprocess.Popen[bytes]
    log: Path
    url: str
    port: int

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def start_serve(home: Path, log: Path, *args: str, token: str | None = TOKEN) -> Serve:
    env = dict(os.environ, CNBSDK_HOME=str(home))
    env.pop("CNBSDK_SERVE_TOKEN", None)
    if token is not None:
        env["CNBSDK_SERVE_TOKEN"] = token
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cnbsdk.cli.main", "serve", "--listen", "127.0.0.1:0", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = WEB_LINE.search(log.read_text(errors="replace"))
        if found:
            return Serve(process, log, found.group(1), int(found.group(2)))
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise AssertionError(f"serve printed no Web: line:\n{log.read_text(errors='replace')}")


def port_is_free(port: int) -> bool:
    """Nothing listens on the port (SO_REUSEADDR: closed connections in TIME_WAIT do not
    count, a listening socket does)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def events(response: requests.Response) -> Iterator[dict[str, str]]:
    """The SSE events of a streamed response (comments skipped), as they arrive."""
    event: dict[str, str] = {}
    for raw in response.iter_lines(decode_unicode=True):
        line = raw or ""
        if not line:
            if event:
                yield event
            event = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        event[field] = f"{event[field]}\n{value}" if field in event else value
