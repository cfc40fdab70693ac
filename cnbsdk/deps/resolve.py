"""Choosing one ``[[metadata.dependencies]]`` entry for an id and a version constraint.

Rules (packit ``postal.Resolve``, libpak ``DependencyResolver``): an empty constraint or
``default`` means ``[metadata.default-versions]`` (else any version); candidates are those
with the id, for the stack (``*`` allowed) and the target os/arch (empty matches anything);
the highest version allowed by the constraint wins, an exact stack match before ``*``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnbsdk.deps.versions import Constraint, Version
from cnbsdk.errors import DependencyError
from cnbsdk.spec.buildpack_toml import ANY_STACK_ID, BuildpackMetadata, Dependency


def effective_constraint(metadata: BuildpackMetadata, dependency_id: str, constraint: str) -> str:
    """The constraint to apply: ``default``/empty become the default version (or ``*``)."""
    if constraint.strip() in ("", "default"):
        return metadata.default_versions.get(dependency_id, "*")
    return constraint


def resolve(
    metadata: BuildpackMetadata,
    dependency_id: str,
    constraint: str = "",
    *,
    stack: str = "",
    os: str = "",
    arch: str = "",
    file: str | None = None,
) -> Dependency:
    """The dependency to install, or a DependencyError listing the versions there are."""
    text = effective_constraint(metadata, dependency_id, constraint)
    wanted = Constraint.parse(text)
    candidates = [
        d
        for d in metadata.dependencies
        if d.id == dependency_id and _for_stack(d, stack) and _for_target(d, os, arch)
    ]
    matching = [d for d in candidates if wanted.allows(d.version)]
    if not matching:
        raise DependencyError(
            f"no version of {dependency_id!r} satisfies {text!r}{_where(stack, os, arch)}"
            f" (versions: {', '.join(_versions(candidates)) or 'none'})",
            file=file,
            field="metadata.dependencies",
        )
    return max(matching, key=lambda d: (_sort_key(d), stack != "" and stack in d.stacks))


def available_versions(metadata: BuildpackMetadata, dependency_id: str) -> list[str]:
    """Every version of ``dependency_id`` in the catalog, lowest first."""
    return _versions([d for d in metadata.dependencies if d.id == dependency_id])


def _for_stack(dependency: Dependency, stack: str) -> bool:
    return (
        not stack or not dependency.stacks or bool({stack, ANY_STACK_ID} & set(dependency.stacks))
    )


def _for_target(dependency: Dependency, os: str, arch: str) -> bool:
    return (not os or not dependency.os or dependency.os == os) and (
        not arch or not dependency.arch or dependency.arch == arch
    )


def _sort_key(dependency: Dependency) -> Version:
    return Version.parse(dependency.version) or Version(-1)


def _versions(candidates: Sequence[Dependency]) -> list[str]:
    return sorted({d.version for d in candidates}, key=lambda v: Version.parse(v) or Version(-1))


def _where(stack: str, os: str, arch: str) -> str:
    parts = [f"stack {stack}"] if stack else []
    target = "/".join(p for p in (os, arch) if p)
    if target:
        parts.append(target)
    return f" on {' '.join(parts)}" if parts else ""
