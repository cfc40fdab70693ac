"""One pass of the loop (``cnbsdk reconcile``): recover builds whose process died, resolve
every image's inputs, compute the reasons, queue what is needed, and (unless asked not to)
run the queued builds here, one after the other, most important first.

An image whose source or builder cannot be resolved records the error (``image status``
shows it) and is tried again after a back-off that doubles, 30 s up to 30 min; the other
images go on."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cnbsdk.keep.inputs import BuilderState, ResolutionFailed, resolve
from cnbsdk.keep.model import BUILDING, QUEUED, BuildRecord, ImageSpec
from cnbsdk.keep.processes import alive
from cnbsdk.keep.reasons import LastBuild, build_changes, is_rebase, priority
from cnbsdk.keep.runner import live_log_path, run_build
from cnbsdk.keep.store import Store

Echo = Callable[[str], None]
BACKOFF_FIRST, BACKOFF_MAX = 30.0, 1800.0


@dataclass
class PassReport:
    recovered: list[BuildRecord] = field(default_factory=list)
    queued: list[BuildRecord] = field(default_factory=list)
    unresolved: dict[str, str] = field(default_factory=dict)
    ran: list[BuildRecord] = field(default_factory=list)


def recover(store: Store) -> list[BuildRecord]:
    """Builds left ``building`` by a process that is gone (a SIGKILL, a power cut): each is
    marked failed with what happened, and the same build is queued again."""
    found = []
    for build in store.builds_in(BUILDING):
        if alive(build.pid, store.pid_start(build.id)):
            continue
        message = (
            f"the process running this build (pid {build.pid}) ended before the build did "
            "(killed?); the image was left as it was and the build is queued again"
        )
        found.append(requeue(store, build, message))
    return [b for b in found if b is not None]


def requeue(store: Store, build: BuildRecord, message: str) -> BuildRecord | None:
    """Mark ``build`` failed with ``message`` (its partial log kept) and queue it again."""
    from cnbsdk.keep.model import FAILURE

    path = live_log_path(build.id)
    text = path.read_bytes() if path.is_file() else b""
    store.finish(
        build.id,
        status=FAILURE,
        message=message,
        result=build.result,
        log=text + f"error: {message}\n".encode(),
    )
    path.unlink(missing_ok=True)
    return store.queue_build(
        build.image,
        kind=build.kind,
        changes=build.changes,
        priority=build.priority,
        inputs=build.inputs,
    )


def plan_image(
    store: Store,
    spec: ImageSpec,
    builders: dict[str, BuilderState],
    *,
    now: float | None = None,
    force: bool = False,
) -> BuildRecord | str | None:
    """Queue the image's next build when it needs one. Returns the queued build, the
    resolution error (a string), or None (current, backing off, or a build is active)."""
    now = time.time() if now is None else now
    row = store.image_row(spec.name)
    if not force and float(row["next_attempt_at"]) > now:
        return None
    try:
        inputs = resolve(spec, builders)
    except ResolutionFailed as error:
        failures = int(row["resolution_failures"]) + 1
        delay = min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)
        store.record_resolution(spec.name, str(error), now + delay)
        return str(error)
    if row["resolution_error"]:
        store.record_resolution(spec.name, "", 0)
    last_record = store.last_build(spec.name)
    last = LastBuild.of(last_record) if last_record is not None else None
    trigger = str(row["trigger_requested"])
    changes = build_changes(last, inputs, trigger)
    if not changes:
        return None
    return store.queue_build(
        spec.name,
        kind="rebase" if is_rebase(changes, last, inputs) else "build",
        changes=changes,
        priority=priority(changes),
        inputs=inputs,
        consumed_trigger=trigger,
    )


def reconcile(
    store: Store,
    *,
    names: Sequence[str] = (),
    run: bool = True,
    echo: Echo | None = None,
    force: bool = True,
) -> PassReport:
    """One pass over ``names`` (default: every image)."""
    report = PassReport(recovered=recover(store))
    builders: dict[str, BuilderState] = {}
    specs = [store.image(n) for n in names] if names else store.images()
    for spec in specs:
        outcome = plan_image(store, spec, builders, force=force)
        if isinstance(outcome, str):
            report.unresolved[spec.name] = outcome
        elif outcome is not None:
            report.queued.append(outcome)
    if run:
        wanted = {s.name for s in specs}
        for build in store.builds_in(QUEUED):
            if build.image not in wanted:
                continue
            finished = run_build(store, build, echo=echo)
            if finished is not None:
                report.ran.append(finished)
    return report
