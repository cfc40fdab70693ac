"""History limits: after each build, the oldest successful and failed builds beyond the
image's limits are deleted, each record with its log in one transaction (kpack deletes
Build resources, and their pods' logs go with them; here the log lives in the record)."""

from __future__ import annotations

from cnbsdk.keep.model import FAILURE, SUCCESS, ImageSpec
from cnbsdk.keep.store import Store


def prune(store: Store, spec: ImageSpec) -> list[int]:
    """Delete what is over the limits; returns the build numbers deleted."""
    builds = store.builds(spec.name)
    doomed = []
    limits = ((SUCCESS, spec.success_history_limit), (FAILURE, spec.failed_history_limit))
    for status, limit in limits:
        finished = [b for b in builds if b.status == status]
        doomed += finished[: max(0, len(finished) - limit)]
    store.delete_builds([b.id for b in doomed])
    return sorted(b.number for b in doomed)
