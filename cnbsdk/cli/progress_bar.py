"""The progress factory the commands hand to the library: a bar on a terminal, plain lines
in a log."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

# In a log: a task that ends within QUIET_SECONDS prints nothing; a longer one prints a
# ``LABEL: N%`` line at most every LINE_SECONDS, and ``LABEL: done in N.Ns`` at the end.
QUIET_SECONDS = 2.0
LINE_SECONDS = 5.0


class TerminalProgress:
    """A click progress bar on stderr while it is a terminal (none for an empty task).

    On a log (stderr not a terminal, e.g. CI) a long task prints plain progress lines
    instead, so a first build is never silent for long; with ``summary``, every finished
    task prints its ``LABEL: done in N.Ns`` line.
    """

    def __init__(self, label: str, total: int, *, summary: bool = False) -> None:
        self.label = label
        self.total = total
        self.summary = summary
        self.started = time.monotonic()
        self.on_terminal = sys.stderr.isatty()
        self.bar: Any = None
        self.done = 0
        self.last_line: float | None = None
        if self.on_terminal and total > 0:
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.update(amount)
            return
        self.done += amount
        if self.on_terminal or self.total <= 0:
            return
        now = time.monotonic()
        due = (
            self.started + QUIET_SECONDS
            if self.last_line is None
            else self.last_line + LINE_SECONDS
        )
        if now >= due:
            self.last_line = now
            percent = min(100, self.done * 100 // self.total)
            click.echo(f"{self.label}: {percent}% ({now - self.started:.0f}s)", err=True)

    def finish(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        elif ok and not self.on_terminal and (self.summary or self.last_line is not None):
            click.echo(f"{self.label}: done in {time.monotonic() - self.started:.1f}s", err=True)


def terminal_progress(label: str, total: int) -> TerminalProgress:
    """A bar on a terminal; in a log, progress lines for a task that takes a while."""
    return TerminalProgress(label, total)


def terminal_progress_with_summary(label: str, total: int) -> TerminalProgress:
    """A bar on a terminal, one summary line per finished task in a log."""
    return TerminalProgress(label, total, summary=True)
