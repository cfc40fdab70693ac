"""Version planning: which version of a dependency to install, and who asked for it.

A buildpack gathers the requests it knows of in priority order — an env var
(``BP_NODE_VERSION``), a manifest field (``package.json "engines"``), a version file
(``.nvmrc``) — and the planner takes the first one present, resolves it against
``[[metadata.dependencies]]`` and logs which source decided, in the shared phrase::

    Selected Node.js version (using package.json "engines"): 22.11.0

With no request, the buildpack's default version (``[metadata.default-versions]``) is used.
A request nothing satisfies is a one-line error naming its source and the versions there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cnbsdk.deps.deliver import Dependencies
from cnbsdk.deps.resolve import available_versions
from cnbsdk.errors import DependencyError
from cnbsdk.spec.buildpack_toml import Dependency

DEFAULT_SOURCE = "default version"


@dataclass(frozen=True)
class VersionRequest:
    """A version asked for by one source, as written there (``~22``, ``>=20 <23``, ``22``)."""

    source: str
    constraint: str


@dataclass(frozen=True)
class PlannedVersion:
    """The chosen catalog entry, the source that decided and the constraint it gave."""

    dependency: Dependency
    source: str
    constraint: str


def plan_version(
    dependencies: Dependencies,
    dependency_id: str,
    requests: Iterable[VersionRequest | None],
    *,
    name: str = "",
    logger: Any = None,
) -> PlannedVersion:
    """The version of ``dependency_id`` to install: the first request given (``None`` and
    empty requests are skipped), else the default version."""
    considered = [r for r in requests if r is not None and r.constraint.strip()]
    if logger is not None and considered:
        logger.candidates([(r.source, r.constraint) for r in considered])
    chosen = considered[0] if considered else None
    source = chosen.source if chosen else DEFAULT_SOURCE
    constraint = chosen.constraint.strip() if chosen else ""
    label = name or dependency_id
    try:
        dependency = dependencies.resolve(dependency_id, constraint)
    except DependencyError:
        if chosen is None:
            raise
        versions = available_versions(dependencies.descriptor.metadata, dependency_id)
        raise DependencyError(  # the request is the user's: no buildpack.toml to blame
            f"{source} asks for {label} {constraint!r}, which no version in the catalog"
            f" satisfies (available: {', '.join(versions) or 'none'})"
        ) from None
    if logger is not None:
        logger.selected_dependency(label, dependency.version, source)
    return PlannedVersion(dependency, source, constraint)
