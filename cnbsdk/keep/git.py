"""Running ``git`` for image sources: never prompting, bounded in time, and a failure told in
git's own ``fatal:`` line."""

from __future__ import annotations

import os
import subprocess


class GitFailed(Exception):
    """git failed or timed out; ``why`` is its ``fatal:`` line (else its last line)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


def run_git(args: list[str], *, timeout: float) -> str:
    """``git ARGS``'s standard output."""
    try:
        return subprocess.run(
            ["git", *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        lines = (getattr(error, "stderr", "") or "").strip().splitlines()
        fatal = [line for line in lines if line.startswith("fatal:")]
        detail = fatal[:1] or lines
        raise GitFailed(detail[-1] if detail else "no answer") from None
