"""``<layers>/store.toml``: buildpack data kept between builds (buildpack.md §store.toml).

The lifecycle stores ``[metadata]`` in the app image label and restores it on the next build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.spec.fields import Fields, drop_empty
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel


@dataclass(frozen=True)
class StoreToml(TomlFileModel):
    """The free-form ``[metadata]`` of ``store.toml``."""

    DEFAULT_FILE: ClassVar[str] = "store.toml"

    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> StoreToml:
        validate(data, "store", file=file)
        return cls(metadata=Fields(data, file=file).table_of("metadata"))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"metadata": dict(self.metadata)})
