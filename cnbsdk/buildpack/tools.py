"""Running the tools a build needs (``npm ci``, ``pip install``, ``mvn package``).

``run_tool(["npm", "ci"], logger=context.logger, cwd=app)`` prints the command, streams its
output indented under the buildpack's section as it comes, and on failure raises one line
with the exit status and the tool's last lines. Secrets (tokens, passwords) given in
``secrets`` are replaced by ``***`` in everything printed or raised.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.log import ACTION, Logger
from cnbsdk.errors import BuildpackError

TAIL_LINES = 3
_ERROR = re.compile(r"^\s*(\S+ )?(error|Error|ERROR|ERR!)\b")


@dataclass(frozen=True)
class ToolRun:
    """A finished tool run: its command line (redacted) and its whole output."""

    command: str
    output: str


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def run_tool(
    args: Sequence[str | os.PathLike[str]],
    *,
    logger: Logger | Any = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    quiet: bool = False,
) -> ToolRun:
    """Run ``args``; its output (stdout and stderr together) is logged line by line unless
    ``quiet``. A non-zero exit, or a tool that is not installed, raises BuildpackError."""
    words = [os.fspath(arg) for arg in args]
    command = redact(shlex.join(words), secrets)
    log = logger if logger is not None else Logger()
    log.subprocess(f"Running '{command}'")
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    lines: list[str] = []
    try:
        process = subprocess.Popen(
            words,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
        )
    except FileNotFoundError:
        raise BuildpackError(f"'{command}' cannot run: {words[0]} is not installed") from None
    except PermissionError:
        raise BuildpackError(f"'{command}' cannot run: {words[0]} is not executable") from None
    assert process.stdout is not None
    for raw in process.stdout:
        line = redact(raw.rstrip("\n"), secrets)
        lines.append(line)
        if line.strip():
            tail.append(line.strip())
        if not quiet:
            log.line(ACTION, line)
    status = process.wait()
    if status != 0:
        shown = list(tail)
        cause = next((line.strip() for line in reversed(lines) if _ERROR.search(line)), None)
        if cause and cause not in shown:
            shown = [cause, *shown[-1:]]  # a stack trace's end says less than its message
        last = " | ".join(shown) or "no output"
        raise BuildpackError(f"'{command}' failed with exit status {status}: {last}")
    return ToolRun(command, "\n".join(lines))
