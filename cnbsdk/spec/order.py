"""Orders and groups (buildpack.md §Order, platform.md order.toml): lists of buildpack refs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnbsdk.spec.fields import Fields
from cnbsdk.spec.ids import BuildpackId, BuildpackVersion


@dataclass(frozen=True)
class GroupEntry:
    """One buildpack reference in a group: id, version, optional (and 0.12 exec-env)."""

    id: BuildpackId
    version: BuildpackVersion | None = None
    optional: bool = False
    exec_env: tuple[str, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields, *, version_required: bool = True) -> GroupEntry:
        return cls(
            id=f.value("id", BuildpackId, required=True),  # type: ignore[arg-type]
            version=f.value("version", BuildpackVersion, required=version_required),
            optional=f.bool("optional"),
            exec_env=tuple(f.str_list("exec-env")),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id)}
        if self.version is not None:
            data["version"] = str(self.version)
        if self.optional:
            data["optional"] = True
        if self.exec_env:
            data["exec-env"] = list(self.exec_env)
        return data


@dataclass(frozen=True)
class OrderGroup:
    """One ``[[order]]`` entry: its ``[[order.group]]`` buildpacks, tried together."""

    group: tuple[GroupEntry, ...] = field(default_factory=tuple)

    @classmethod
    def from_fields(cls, f: Fields, *, version_required: bool = True) -> OrderGroup:
        if not f.each("group"):
            # An empty group passes detection with nothing to build (buildpack.md §Order).
            raise f.error("group", "must not be empty")
        return cls(
            group=tuple(
                GroupEntry.from_fields(g, version_required=version_required)
                for g in f.each("group")
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {"group": [entry.to_dict() for entry in self.group]}


def parse_order(
    f: Fields, key: str = "order", *, version_required: bool = True
) -> tuple[OrderGroup, ...]:
    """Read an array of ``[[order]]`` tables."""
    return tuple(OrderGroup.from_fields(o, version_required=version_required) for o in f.each(key))
