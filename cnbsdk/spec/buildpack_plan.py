"""The buildpack plan ``bin/build`` reads (buildpack.md §Buildpack Plan (TOML))."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel


@dataclass(frozen=True)
class PlanEntry:
    """One require this buildpack is asked to satisfy, with the requirer's metadata."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, f: Fields) -> PlanEntry:
        name: str = f.str("name", required=True)
        if not name:
            raise f.error("name", "must not be empty")
        return cls(name=name, metadata=f.table_of("metadata"))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"name": self.name, "metadata": dict(self.metadata)})


@dataclass(frozen=True)
class BuildpackPlan(TomlFileModel):
    """The ``[[entries]]`` given to one buildpack; a name may appear once per require."""

    DEFAULT_FILE: ClassVar[str] = "plan.toml"

    entries: tuple[PlanEntry, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> BuildpackPlan:
        validate(data, "buildpack-plan", file=file)
        f = Fields(data, file=file)
        return cls(entries=tuple(PlanEntry.from_fields(e) for e in f.each("entries")))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"entries": [entry.to_dict() for entry in self.entries]})

    def named(self, name: str) -> tuple[PlanEntry, ...]:
        """The entries for one dependency name, in plan order."""
        return tuple(entry for entry in self.entries if entry.name == name)
