"""``<layers>/<layer>.toml``: a layer's types and metadata (buildpack.md §Layer Content Metadata).

Flags are read only from ``[types]``; a restored file has no ``[types]`` at all, and the
buildpack must set them again or the layer is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.schema import validate
from cnbsdk.spec.toml_io import TomlFileModel

_FLAGS = ("launch", "build", "cache")


@dataclass(frozen=True)
class LayerTypes:
    """Where a layer goes: the app image (launch), later buildpacks (build), the cache."""

    launch: bool = False
    build: bool = False
    cache: bool = False

    @classmethod
    def from_fields(cls, f: Fields) -> LayerTypes:
        return cls(launch=f.bool("launch"), build=f.bool("build"), cache=f.bool("cache"))

    def to_dict(self) -> dict[str, Any]:
        return {"launch": self.launch, "build": self.build, "cache": self.cache}

    @property
    def ignored(self) -> bool:
        """All flags false: the lifecycle renames the layer to ``<layer>.ignore``."""
        return not (self.launch or self.build or self.cache)


@dataclass(frozen=True)
class LayerContentMetadata(TomlFileModel):
    """The whole ``<layer>.toml``; ``types`` is None when the file has no ``[types]`` table."""

    DEFAULT_FILE: ClassVar[str] = "<layer>.toml"

    types: LayerTypes | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_types(self) -> LayerTypes:
        """The flags the lifecycle applies: no ``[types]`` means all false."""
        return self.types or LayerTypes()

    @property
    def exec_env(self) -> tuple[str, ...]:
        """Buildpack API 0.12 ``[metadata] exec-env``; empty means every execution environment."""
        return tuple(self.metadata.get("exec-env", ()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> LayerContentMetadata:
        validate(data, "layer", file=file)
        f = Fields(data, file=file)
        for flag in _FLAGS:
            if flag in f.table:
                raise f.error(flag, f"should be in the [types] table: [types] {flag} = true")
        types = f.sub("types")
        metadata = f.sub("metadata")
        if metadata is not None:
            metadata.str_list("exec-env")
        return cls(
            types=LayerTypes.from_fields(types) if types is not None else None,
            metadata=dict(metadata.table) if metadata is not None else {},
        )

    def to_dict(self, include_types: bool = True) -> dict[str, Any]:
        """The file's tables; ``include_types=False`` gives the restored form."""
        data: dict[str, Any] = {}
        if include_types and self.types is not None:
            data["types"] = self.types.to_dict()
        if self.metadata:
            data["metadata"] = dict(self.metadata)
        return data


def layer_exec_env(values: object) -> tuple[str, ...]:
    """Check a ``[metadata] exec-env`` value given in code rather than read from a file."""
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise SpecError(f"exec-env: expected an array of strings, got {values!r}"[:120])
    return tuple(values)
