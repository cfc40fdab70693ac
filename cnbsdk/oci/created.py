"""An image's ``created`` time, read in one place for every image cnbsdk writes: the value
given (``--creation-time``: RFC 3339, unix seconds or ``now``), else ``SOURCE_DATE_EPOCH``,
else the caller's default. A value that is not a time is a one-line error naming it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone

from cnbsdk.errors import BuildError
from cnbsdk.oci.layer_tar import NORMALIZED_TIME

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")  # up to year 33658: datetime stops at 9999


def resolve_created(
    value: str | None, environ: Mapping[str, str], *, default: str = NORMALIZED_TIME
) -> str:
    """The image's ``created``: ``value`` (RFC 3339, unix seconds or ``now``), else
    ``SOURCE_DATE_EPOCH``, else ``default`` (the lifecycle's constant 1980-01-01T00:00:01Z)."""
    if value is None:
        return source_date_epoch(environ) or default
    if value == "now":
        return rfc3339(datetime.now(tz=timezone.utc))
    if value.isdigit():
        return _from_unix_seconds(value, field="creation-time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return rfc3339(parsed.astimezone(timezone.utc))
    except (ValueError, OverflowError):
        raise BuildError(
            f"invalid time {value[:80]!r}: use RFC 3339, unix seconds or 'now'",
            field="creation-time",
        ) from None


def source_date_epoch(environ: Mapping[str, str]) -> str | None:
    """``SOURCE_DATE_EPOCH`` as RFC 3339, None when unset or empty."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "")
    return _from_unix_seconds(epoch, field="SOURCE_DATE_EPOCH") if epoch else None


def rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_unix_seconds(text: str, *, field: str) -> str:
    """Unix seconds as RFC 3339; anything that is not a time datetime can hold is refused."""
    try:
        if not _UNIX_SECONDS.fullmatch(text):
            raise ValueError(text)
        return rfc3339(datetime.fromtimestamp(int(text), tz=timezone.utc))
    except (ValueError, OverflowError, OSError):
        raise BuildError(
            f"must be unix seconds up to 253402300799 (year 9999), not {text[:40]!r}",
            field=field,
        ) from None
