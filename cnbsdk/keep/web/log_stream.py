"""A build's log for the web API as Server-Sent Events while it grows (the whole text so far
is ``runner.build_log``, as ``cnbsdk build logs`` prints it).

Each ``log`` event holds whole lines (one ``data:`` line per log line) and its ``id`` is the
byte offset after them, so a client that reconnects with ``Last-Event-ID`` gets the rest
and nothing twice. When the build is no longer queued or building the stream sends what is
left, then ``end`` with the status, and closes. Files and the store are read in small parts
on worker threads; the event loop only sleeps between polls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from cnbsdk.keep.model import ACTIVE, BuildRecord, KeepError
from cnbsdk.keep.runner import live_log_path
from cnbsdk.keep.store import Store

POLL_SECONDS = 0.25
KEEP_ALIVE_SECONDS = 15.0
PART = 256 * 1024  # at most this much of a log per read


def read_part(store: Store, build_id: int, offset: int) -> tuple[BuildRecord | None, bytes]:
    """The build now (None when its record was deleted) and its log from ``offset``."""
    try:
        record = store.build_by_id(build_id)
    except KeepError:
        return None, b""
    if record.status not in ACTIVE:
        return record, store.log_part(build_id, offset, PART) or b""
    try:
        with live_log_path(build_id).open("rb") as log:
            log.seek(offset)
            return record, log.read(PART)
    except FileNotFoundError:
        return record, b""


def log_event(offset: int, data: bytes) -> str:
    text = data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.removesuffix("\n").split("\n")
    return f"event: log\nid: {offset}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def end_event(status: str, number: int) -> str:
    return f"event: end\ndata: {json.dumps({'status': status, 'number': number})}\n\n"


async def stream(
    read: Callable[[int], Awaitable[tuple[BuildRecord | None, bytes]]],
    number: int,
    offset: int,
    stop: Callable[[], Awaitable[bool]],
) -> AsyncIterator[str]:
    """The events of one build's log from ``offset``; ``read(offset)`` is ``read_part`` on a
    worker thread, ``stop()`` says the client left or the server is stopping."""
    last_sent = time.monotonic()
    yield "retry: 1000\n\n"
    while not await stop():
        record, data = await read(offset)
        done = record is None or record.status not in ACTIVE
        if not done and len(data) < PART:
            data = data[: data.rfind(b"\n") + 1]  # whole lines while it is written
        if data:
            offset += len(data)
            yield log_event(offset, data)
            last_sent = time.monotonic()
            continue  # there may be more at once
        if done:
            yield end_event(record.status if record else "deleted", number)
            return
        if time.monotonic() - last_sent >= KEEP_ALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)
