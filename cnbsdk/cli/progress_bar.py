"""The progress factory the commands hand to the library: a bar on a terminal only."""

from __future__ import annotations

import sys
import time
from typing import Any

import click


class TerminalProgress:
    """A click progress bar on stderr while it is a terminal (none for an empty task).

    On a log (stderr not a terminal) nothing is drawn; with ``summary``, a finished task
    prints one ``LABEL: done in N.Ns`` line instead.
    """

    def __init__(self, label: str, total: int, *, summary: bool = False) -> None:
        self.label = label
        self.summary = summary
        self.started = time.monotonic()
        self.on_terminal = sys.stderr.isatty()
        self.bar: Any = None
        if self.on_terminal and total > 0:
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()

    def advance(self, amount: int) -> None:
        if self.bar is not None:
            self.bar.update(amount)

    def finish(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        elif ok and self.summary and not self.on_terminal:
            click.echo(f"{self.label}: done in {time.monotonic() - self.started:.1f}s", err=True)


def terminal_progress(label: str, total: int) -> TerminalProgress:
    """A bar on a terminal, silence in a log (the command's own lines say it all)."""
    return TerminalProgress(label, total)


def terminal_progress_with_summary(label: str, total: int) -> TerminalProgress:
    """A bar on a terminal, one summary line per finished task in a log."""
    return TerminalProgress(label, total, summary=True)
