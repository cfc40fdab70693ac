"""Why an image needs a build: kpack's six change detectors (``build_required.go``), run in
kpack's fixed order, each comparing the last build with the inputs resolved now and
returning the old and the new value. Pure functions: no store, no images.

- ``TRIGGER``   asked for by hand (``cnbsdk image trigger``) since the last build.
- ``COMMIT``    the Git branch or tag moved to a new commit; for a local directory or a
                blob, its content digest changed (the message says which).
- ``CONFIG``    the first build, or the env or source settings changed.
- ``BUILDPACK`` the last build succeeded and a buildpack id@version it used is no longer
                in the builder.
- ``STACK``     the last build succeeded and its run image is not the builder's current one.
- ``LIFECYCLE`` the last build succeeded and the builder's lifecycle version changed.

A build whose only reason is ``STACK``, on the same stack id, is a rebase; anything else
rebuilds with the image's cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnbsdk.keep.model import GIT, LOCAL, BuildRecord, Change, Inputs

TRIGGER, COMMIT, CONFIG = "TRIGGER", "COMMIT", "CONFIG"
BUILDPACK, STACK, LIFECYCLE = "BUILDPACK", "STACK", "LIFECYCLE"
REASONS = (TRIGGER, COMMIT, CONFIG, BUILDPACK, STACK, LIFECYCLE)
HIGH_PRIORITY, LOW_PRIORITY = 1000, 1
PRIORITY = {
    TRIGGER: HIGH_PRIORITY,
    COMMIT: HIGH_PRIORITY,
    CONFIG: HIGH_PRIORITY,
    BUILDPACK: LOW_PRIORITY,
    STACK: LOW_PRIORITY,
    LIFECYCLE: LOW_PRIORITY,
}
# `kp build list` shows one reason: the most important of these, else the first listed.
SUMMARY_ORDER = (CONFIG, COMMIT, BUILDPACK)


@dataclass(frozen=True)
class LastBuild:
    """What the detectors need of the last build (finished, either way)."""

    succeeded: bool
    config: dict[str, object]
    source_kind: str
    revision: str
    buildpacks: tuple[str, ...]
    run_image: str
    stack_id: str
    lifecycle_version: str

    @classmethod
    def of(cls, record: BuildRecord) -> LastBuild:
        return cls(
            succeeded=record.succeeded,
            config=record.inputs.config,
            source_kind=record.inputs.source_kind,
            revision=record.inputs.revision,
            buildpacks=record.result.buildpacks,
            run_image=record.result.run_image,
            stack_id=record.result.stack_id,
            lifecycle_version=record.result.lifecycle_version,
        )


def trigger_change(last: LastBuild | None, trigger: str) -> Change | None:
    if last is None or not trigger:
        return None
    return Change(TRIGGER, "", trigger, f"A new build was manually triggered on {trigger}")


def commit_change(last: LastBuild | None, now: Inputs) -> Change | None:
    if last is None or last.source_kind != now.source_kind or last.revision == now.revision:
        return None
    if now.source_kind == GIT:
        message = "the Git revision moved to a new commit"
    elif now.source_kind == LOCAL:
        message = "the local directory's content digest changed"
    else:
        message = "the blob's content digest changed"
    return Change(COMMIT, last.revision, now.revision, message)


def config_change(last: LastBuild | None, now: Inputs) -> Change | None:
    old = last.config if last is not None else {}
    if old == now.config:
        return None
    message = "first build" if last is None else "the build env or source settings changed"
    return Change(CONFIG, old, now.config, message)


def buildpack_change(last: LastBuild | None, now: Inputs) -> Change | None:
    if last is None or not last.succeeded:
        return None
    gone = [bp for bp in last.buildpacks if bp not in now.buildpacks]
    if not gone:
        return None
    ids = {bp.rpartition("@")[0] for bp in gone}
    replacing = [bp for bp in now.buildpacks if bp.rpartition("@")[0] in ids]
    return Change(
        BUILDPACK, gone, replacing, "a buildpack the last build used is no longer in the builder"
    )


def stack_change(last: LastBuild | None, now: Inputs) -> Change | None:
    if last is None or not last.succeeded:
        return None
    if _digest(last.run_image) == _digest(now.run_image):
        return None
    return Change(
        STACK, last.run_image, now.run_image, "the builder's run image is not the one last used"
    )


def lifecycle_change(last: LastBuild | None, now: Inputs) -> Change | None:
    if last is None or not last.succeeded or last.lifecycle_version == now.lifecycle_version:
        return None
    return Change(
        LIFECYCLE, last.lifecycle_version, now.lifecycle_version, "the lifecycle version changed"
    )


def build_changes(last: LastBuild | None, now: Inputs, trigger: str = "") -> tuple[Change, ...]:
    """Every reason for a build now, in kpack's order; empty when the image is current."""
    found = (
        trigger_change(last, trigger),
        commit_change(last, now),
        config_change(last, now),
        buildpack_change(last, now),
        stack_change(last, now),
        lifecycle_change(last, now),
    )
    return tuple(change for change in found if change is not None)


def priority(changes: Sequence[Change]) -> int:
    return max((PRIORITY[c.reason] for c in changes), default=0)


def is_rebase(changes: Sequence[Change], last: LastBuild | None, now: Inputs) -> bool:
    """kpack's ``rebasable``: STACK is the only reason and the stack id is the same."""
    return (
        last is not None
        and last.succeeded
        and [c.reason for c in changes] == [STACK]
        and last.stack_id == now.stack_id
    )


def summary(reasons: Sequence[str]) -> str:
    """The REASON column of ``build list``: one reason, with ``+`` when there are more."""
    if not reasons:
        return ""
    main = next((r for r in SUMMARY_ORDER if r in reasons), reasons[0])
    return main + ("+" if len(reasons) > 1 else "")


def _digest(reference: str) -> str:
    """Run images compare by digest when they have one (a re-pushed tag is the same image
    when its digest is: kpack#642, #948), else by the whole reference."""
    return reference.rpartition("@")[2] if "@" in reference else reference
