"""A base for models stored as one TOML file: read, parse, dump and write.

A model defines ``from_dict``/``to_dict`` and its ``FILE_NAME``; this base gives it
``from_toml``, ``read``, ``to_toml`` and ``write`` (atomic).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from cnbsdk.spec.toml_file import dump_toml, parse_toml, read_toml, write_toml

M = TypeVar("M", bound="TomlModel")


class TomlModel:
    """Base of a model stored as one TOML file."""

    FILE_NAME: ClassVar[str] = "file.toml"

    @classmethod
    def from_dict(cls: type[M], data: Mapping[str, Any], *, file: str) -> M:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_toml(cls: type[M], text: str, *, file: str | None = None) -> M:
        """Parse TOML text; errors name ``file`` (default: ``FILE_NAME``)."""
        name = file or cls.FILE_NAME
        return cls.from_dict(parse_toml(text, file=name), file=name)

    @classmethod
    def read(cls: type[M], path: str | os.PathLike[str]) -> M:
        return cls.from_dict(read_toml(path), file=str(path))

    def to_toml(self) -> str:
        return dump_toml(self.to_dict())

    def write(self, path: str | os.PathLike[str]) -> None:
        write_toml(path, self.to_dict())
