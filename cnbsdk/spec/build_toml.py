"""``<layers>/build.toml``: the plan entries a buildpack left unmet (buildpack.md §build.toml)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel

BOM_REMOVED = "is not supported since Buildpack API 0.7: write <layer>.sbom.<ext> files instead"


@dataclass(frozen=True)
class Unmet:
    """A plan entry this buildpack did not satisfy; it goes on to the next provider."""

    name: str

    @classmethod
    def from_fields(cls, f: Fields) -> Unmet:
        name: str = f.str("name", required=True)
        if not name:
            raise f.error("name", "must not be empty")
        return cls(name=name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name}


@dataclass(frozen=True)
class BuildToml(TomlFileModel):
    """The whole ``build.toml``."""

    DEFAULT_FILE: ClassVar[str] = "build.toml"

    unmet: tuple[Unmet, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> BuildToml:
        validate(data, "build", file=file)
        f = Fields(data, file=file)
        if "bom" in f.table:
            raise f.error("bom", BOM_REMOVED)
        return cls(unmet=tuple(Unmet.from_fields(u) for u in f.each("unmet")))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"unmet": [u.to_dict() for u in self.unmet]})
