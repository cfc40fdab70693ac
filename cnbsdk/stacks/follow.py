"""A stack that follows its distribution: made from its shipped lock while every pinned
``.deb`` can still be had, else from the newest versions.

Debian's security archive keeps only the newest version of a package, so a lock shipped
inside cnbsdk goes stale within days of a release. A vanished pin is then an update to
take, not an error: the newest versions are resolved (and remembered in the cache, so the
next stack made from the same shipped lock needs no network while its ``.deb``s are cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnbsdk.errors import SpecError, StackError
from cnbsdk.stacks.apt import AptWorkspace
from cnbsdk.stacks.create import read_lock, resolve_lock
from cnbsdk.stacks.definition import StackDefinition
from cnbsdk.stacks.lock import StackLock
from cnbsdk.stacks.update import PackageChange, package_changes


@dataclass(frozen=True)
class FollowedLock:
    """The lock to make the stack from, and how it differs from the shipped one."""

    lock: StackLock
    shipped: StackLock
    replaced: tuple[PackageChange, ...]

    def summary(self, distribution: str, *, shown: int = 3) -> str | None:
        """One line for the log when the shipped lock could not be used, else None."""
        if not self.replaced:
            return None
        first = ", ".join(change.text() for change in self.replaced[:shown])
        more = len(self.replaced) - shown
        if more > 0:
            first += f" and {more} more"
        count = len(self.replaced)
        noun = "package" if count == 1 else "packages"
        return (
            f"{distribution.capitalize()} replaced {count} {noun} since the shipped lock"
            f" ({first}): using the newest versions"
        )


def _memo_path(cache: Path, shipped: StackLock) -> Path:
    return cache / "stacks" / f"{shipped.stack_id}-{shipped.digest()[7:23]}.lock"


def _read_memo(path: Path, definition: StackDefinition) -> StackLock | None:
    try:
        return read_lock(path, definition) if path.is_file() else None
    except (StackError, SpecError):
        return None


def follow_lock(
    definition: StackDefinition, shipped_lock: Path, workspace: AptWorkspace, cache: Path
) -> FollowedLock:
    """The shipped lock when its ``.deb``s are cached or still on the mirror; else the
    newest versions resolved earlier from it whose ``.deb``s are cached; else the newest
    versions now."""
    if not shipped_lock.is_file():  # a stack file shipped without a lock: the newest versions
        newest = resolve_lock(definition, workspace)
        return FollowedLock(newest, newest, ())
    shipped = read_lock(shipped_lock, definition)
    not_cached = workspace.missing(shipped.packages)
    if not not_cached:
        return FollowedLock(shipped, shipped, ())
    memo_path = _memo_path(cache, shipped)
    memo = _read_memo(memo_path, definition)
    if memo is not None and not workspace.missing(memo.packages):
        return FollowedLock(memo, shipped, tuple(package_changes(shipped, memo)))
    if not workspace.unavailable(not_cached):
        return FollowedLock(shipped, shipped, ())
    newest = resolve_lock(definition, workspace)
    memo_path.parent.mkdir(parents=True, exist_ok=True)
    newest.write(memo_path)
    return FollowedLock(newest, shipped, tuple(package_changes(shipped, newest)))
