"""``GET /api/v1/images?status=...&sort=...``: which image statuses, in which order. A value
outside the allowed ones is a ``QueryError`` naming the parameter and the allowed values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cnbsdk.keep.status import STATUSES

# sort keys: the image_status keys with one plain value each
SORT_KEYS = (
    "name",
    "status",
    "ready",
    "message",
    "latestReason",
    "latestImage",
    "latestTag",
    "latestKind",
    "builder",
    "runImage",
    "signed",
    "buildCounter",
    "vulnerabilities",
)
_SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


class QueryError(ValueError):
    """A query value the API does not take; the message is the client's error."""


def status_filter(values: Sequence[str]) -> set[str]:
    """``status=a,b`` and ``status=a&status=b`` -> {a, b}; empty = no filter."""
    wanted = {part.strip() for value in values for part in value.split(",")}
    wanted.discard("")
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise QueryError(
            f"status: {', '.join(repr(u) for u in unknown)} is not one of {', '.join(STATUSES)}"
        )
    return wanted


def sort_key(value: str) -> tuple[str, bool]:
    """``name`` or ``-name`` -> (key, descending)."""
    key = value[1:] if value.startswith("-") else value
    if key not in SORT_KEYS:
        raise QueryError(
            f"sort: {value!r} is not one of {', '.join(SORT_KEYS)} (a leading '-' sorts descending)"
        )
    return key, value.startswith("-")


def select(
    statuses: list[dict[str, Any]], status: Sequence[str], sort: str
) -> list[dict[str, Any]]:
    wanted = status_filter(status)
    key, descending = sort_key(sort)
    chosen = [s for s in statuses if not wanted or s["status"] in wanted]
    chosen.sort(key=lambda s: s["name"])  # ties keep name order either way
    chosen.sort(key=lambda s: _comparable(key, s[key]), reverse=descending)
    return chosen


def _comparable(key: str, value: Any) -> Any:
    if key == "vulnerabilities":  # worst first: by counts from CRITICAL down; unscanned lowest
        return (-1,) if value is None else (0, *(value[level] for level in _SEVERITY_ORDER))
    if key == "status":
        return STATUSES.index(value)
    return value
