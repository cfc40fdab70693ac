"""An image's status as ``image status``/``image list`` show it (kpack's Image status: Ready,
its message, the latest image and reason, the last successful and failed builds)."""

from __future__ import annotations

from typing import Any

from cnbsdk.keep.model import ACTIVE, FAILURE, SUCCESS
from cnbsdk.keep.store import Store


def image_status(store: Store, name: str) -> dict[str, Any]:
    row = store.image_row(name)
    spec = store.image(name)
    builds = store.builds(name)
    latest = builds[-1] if builds else None
    success = next((b for b in reversed(builds) if b.status == SUCCESS), None)
    failed = next((b for b in reversed(builds) if b.status == FAILURE), None)
    if latest is None:
        ready, message = "Unknown", "no build yet"
    elif latest.status in ACTIVE:
        ready, message = "Building", f"build {latest.number} is {latest.status}"
    elif latest.status == SUCCESS:
        ready, message = "True", ""
    else:
        ready, message = "False", f"build {latest.number} failed: {latest.status_message}"
    if row["resolution_error"]:
        message = f"cannot resolve the inputs: {row['resolution_error']}"
        if ready == "True":
            ready = "Unknown"
    return {
        "name": name,
        "ready": ready,
        "message": message,
        "latestImage": success.result.image if success else "",
        "latestReason": ",".join(latest.reasons) if latest else "",
        "buildCounter": int(row["build_counter"]),
        "triggerRequested": str(row["trigger_requested"]),
        "resolutionError": str(row["resolution_error"]),
        "spec": spec.to_json(),
        "lastSuccessfulBuild": success.to_json() if success else None,
        "lastFailedBuild": failed.to_json() if failed else None,
    }
