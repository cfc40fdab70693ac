"""File I/O shared by the spec models stored as one TOML file: read, parse, dump, write.

A model only defines ``from_dict``/``to_dict`` and its default file name; this base gives it
``from_toml``, ``read``, ``to_toml`` and ``write`` with the same error behaviour everywhere.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, TypeVar

from cnbsdk.spec.toml_file import dump_toml, parse_toml, read_toml, write_toml

M = TypeVar("M", bound="TomlFileModel")


class TomlFileModel:
    """Base of a spec model that is stored as one TOML file."""

    DEFAULT_FILE: ClassVar[str] = "file.toml"

    @classmethod
    def from_dict(cls: type[M], data: dict[str, Any], *, file: str) -> M:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_toml(cls: type[M], text: str, *, file: str | None = None) -> M:
        """Parse TOML text; errors name ``file`` (default: the usual file name)."""
        name = file or cls.DEFAULT_FILE
        return cls.from_dict(parse_toml(text, file=name), file=name)

    @classmethod
    def read(cls: type[M], path: str | os.PathLike[str]) -> M:
        """Read and validate a file."""
        return cls.from_dict(read_toml(path), file=str(path))

    def to_toml(self) -> str:
        return dump_toml(self.to_dict())

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file atomically: readers see the old content or the new one."""
        write_toml(path, self.to_dict())
