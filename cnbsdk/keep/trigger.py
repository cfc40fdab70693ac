"""Asking for a TRIGGER build (``cnbsdk image trigger`` and the web page's button): the
image record is marked with the time; the next reconcile queues the build."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

from cnbsdk.keep.store import Store


def request_trigger(store: Store, name: str) -> tuple[int, str]:
    """The number the TRIGGER build will get, and the time recorded (RFC 2822)."""
    when = format_datetime(datetime.now(timezone.utc).replace(microsecond=0))
    return store.request_trigger(name, when), when
