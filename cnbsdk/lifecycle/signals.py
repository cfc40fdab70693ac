"""Signal handlers installed for the length of a block (the build's interrupt handling and
``cnbsdk run``'s forwarding to the sandboxed app)."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

SignalHandler = Callable[[int, FrameType | None], None]


@contextmanager
def signals_handled(handler: SignalHandler, signums: Iterable[signal.Signals]) -> Iterator[None]:
    """Route ``signums`` to ``handler`` inside the block; the previous handlers come back
    after it. Outside the main thread, where Python cannot set handlers, nothing changes."""
    try:
        previous = {signum: signal.signal(signum, handler) for signum in signums}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
