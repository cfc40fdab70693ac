"""An image's status as ``image status``/``image list`` and the web API show it (kpack's
Image status: Ready, its message, the latest image and reason, the last successful and
failed builds), with what the web page's table needs besides: the builder, the run image,
the build-number tag, rebase or rebuild, vulnerability counts and the signature."""

from __future__ import annotations

from typing import Any

from cnbsdk.keep.model import ACTIVE, FAILURE, SUCCESS, BuildRecord, ImageSpec
from cnbsdk.keep.store import Store

# kpack's Ready condition -> the one word the web page filters and sorts on
STATUS_OF_READY = {
    "True": "ready",
    "Building": "building",
    "False": "failed",
    "Unknown": "notready",
}
STATUSES = ("ready", "building", "failed", "notready")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


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
        "status": STATUS_OF_READY[ready],
        "message": message,
        "latestImage": success.result.image if success else "",
        "latestTag": latest_tag(success),
        "latestKind": success.kind if success else "",
        "latestReason": ",".join(latest.reasons) if latest else "",
        "builder": spec.builder,
        "runImage": success.result.run_image if success else "",
        "vulnerabilities": vulnerabilities(spec, success),
        "signed": bool(success and success.result.signature),
        "buildCounter": int(row["build_counter"]),
        "triggerRequested": str(row["trigger_requested"]),
        "resolutionError": str(row["resolution_error"]),
        "spec": spec.to_json(),
        "lastSuccessfulBuild": success.to_json() if success else None,
        "lastFailedBuild": failed.to_json() if failed else None,
    }


def latest_tag(success: BuildRecord | None) -> str:
    """The build-number tag (``...:b3.20260101.120000``) the build wrote; its tags are the
    destination, that tag, then the additional tags."""
    if success is None or not success.result.tags:
        return ""
    tags = success.result.tags
    return tags[1] if len(tags) > 1 else tags[0]


def vulnerabilities(spec: ImageSpec, success: BuildRecord | None) -> dict[str, int] | None:
    """Counts by severity of the latest successful build; None when the image is not
    scanned (no advisory database in its record) or has no successful build."""
    if success is None or not spec.advisory_db:
        return None
    found = dict(success.result.vulnerabilities)
    counts = {level: int(found.pop(level, 0)) for level in SEVERITIES}
    counts["UNKNOWN"] += sum(found.values())  # a severity the scanner may add later
    return counts
