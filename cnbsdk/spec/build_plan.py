"""The build plan a buildpack's ``bin/detect`` writes (buildpack.md §Build Plan (TOML))."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel


def _name(f: Fields) -> str:
    name: str = f.str("name", required=True)
    if not name:
        raise f.error("name", "must not be empty")
    return name


@dataclass(frozen=True)
class Provide:
    """A dependency this buildpack can provide if some buildpack requires it."""

    name: str

    @classmethod
    def from_fields(cls, f: Fields) -> Provide:
        return cls(name=_name(f))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class Require:
    """A dependency this buildpack needs; ``metadata`` reaches the provider's buildpack plan."""

    name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_fields(cls, f: Fields) -> Require:
        # Buildpack API 0.11 removed the top-level version; the lifecycle rejects it.
        if "version" in f.table:
            raise f.error("version", "is not allowed here: put it in the metadata table")
        return cls(name=_name(f), metadata=f.table_of("metadata"))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"name": self.name, "metadata": dict(self.metadata)})


@dataclass(frozen=True)
class PlanOption:
    """One alternative: what this buildpack provides and requires if it is chosen."""

    provides: tuple[Provide, ...] = ()
    requires: tuple[Require, ...] = ()

    @classmethod
    def from_fields(cls, f: Fields) -> PlanOption:
        return cls(
            provides=tuple(Provide.from_fields(p) for p in f.each("provides")),
            requires=tuple(Require.from_fields(r) for r in f.each("requires")),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "provides": [p.to_dict() for p in self.provides],
                "requires": [r.to_dict() for r in self.requires],
            }
        )


@dataclass(frozen=True)
class BuildPlan(TomlFileModel):
    """The detect output: a top-level option plus ``[[or]]`` alternatives, tried in order."""

    DEFAULT_FILE: ClassVar[str] = "plan.toml"

    provides: tuple[Provide, ...] = ()
    requires: tuple[Require, ...] = ()
    alternatives: tuple[PlanOption, ...] = ()

    @property
    def options(self) -> tuple[PlanOption, ...]:
        """Every option in the order the detector tries them: the top level, then each ``or``."""
        return (PlanOption(self.provides, self.requires), *self.alternatives)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> BuildPlan:
        validate(data, "build-plan", file=file)
        f = Fields(data, file=file)
        top = PlanOption.from_fields(f)
        return cls(
            provides=top.provides,
            requires=top.requires,
            alternatives=tuple(PlanOption.from_fields(o) for o in f.each("or")),
        )

    def to_dict(self) -> dict[str, Any]:
        data = PlanOption(self.provides, self.requires).to_dict()
        if self.alternatives:
            data["or"] = [option.to_dict() for option in self.alternatives]
        return data
