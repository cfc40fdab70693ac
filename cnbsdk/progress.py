"""How long work (stack creation, run image downloads, export) reports progress without
knowing who is watching.

The library calls a ``ProgressFactory``; the CLI passes one that draws a bar on a terminal
(and stays quiet in CI logs), tests and other callers get the silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class ProgressHandle(Protocol):
    """One task with a known total (bytes or items)."""

    def advance(self, amount: int) -> None: ...

    def finish(self, ok: bool = True) -> None:
        """Close the task; ``ok=False`` when it failed (the error will be reported)."""
        ...


ProgressFactory = Callable[[str, int], ProgressHandle]


class _Silent:
    def advance(self, amount: int) -> None:
        pass

    def finish(self, ok: bool = True) -> None:
        pass


def silent(label: str, total: int) -> ProgressHandle:
    """The default: report nothing."""
    return _Silent()
