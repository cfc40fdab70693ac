"""Typed reads of fields from parsed TOML tables, with errors that name the file and field.

Every model's ``from_dict`` uses these, so a wrong type anywhere gives the same one-line
message: ``buildpack.toml: buildpack.id: expected a string, got 42``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, TypeVar

from cnbsdk.errors import SpecError

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    dict: "a table",
    list: "an array",
}


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


class Fields:
    """A view of one TOML table that knows where it sits (file and dotted path)."""

    def __init__(self, table: Any, *, file: builtins.str, path: builtins.str = "") -> None:
        if not isinstance(table, dict):
            raise SpecError(
                f"expected a table, got {_describe(table)}", file=file, field=path or None
            )
        self.table = table
        self.file = file
        self.path = path

    def where(self, key: builtins.str) -> builtins.str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: builtins.str, message: builtins.str) -> SpecError:
        return SpecError(message, file=self.file, field=self.where(key))

    def _typed(self, key: builtins.str, kind: type, default: Any, required: builtins.bool) -> Any:
        if key not in self.table:
            if required:
                raise self.error(key, "is required")
            return default
        value = self.table[key]
        if kind is int and isinstance(value, bool):
            raise self.error(key, f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}")
        return value

    def str(
        self,
        key: builtins.str,
        default: builtins.str | None = None,
        *,
        required: builtins.bool = False,
    ) -> Any:
        return self._typed(key, str, default, required)

    def bool(self, key: builtins.str, default: builtins.bool = False) -> builtins.bool:
        return bool(self._typed(key, bool, default, False))

    def int(
        self,
        key: builtins.str,
        default: builtins.int | None = None,
        *,
        required: builtins.bool = False,
    ) -> Any:
        return self._typed(key, int, default, required)

    def table_of(
        self, key: builtins.str, *, required: builtins.bool = False
    ) -> dict[builtins.str, Any]:
        return dict(self._typed(key, dict, {}, required))

    def str_list(self, key: builtins.str) -> list[builtins.str]:
        values = self._typed(key, list, [], False)
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise self.error(f"{key}[{index}]", f"expected a string, got {_describe(value)}")
        return list(values)

    def sub(self, key: builtins.str, *, required: builtins.bool = False) -> Fields | None:
        """The nested table ``key`` as Fields, or None when absent."""
        if key not in self.table:
            if required:
                raise self.error(key, "is required")
            return None
        return Fields(self.table[key], file=self.file, path=self.where(key))

    def each(self, key: builtins.str) -> list[Fields]:
        """The array of tables ``key``, each as Fields."""
        values = self._typed(key, list, [], False)
        return [
            Fields(v, file=self.file, path=f"{self.where(key)}[{i}]") for i, v in enumerate(values)
        ]

    def value(
        self, key: builtins.str, parse: Callable[[Any], T], *, required: builtins.bool = False
    ) -> T | None:
        """Parse a field with a validating constructor (e.g. BuildpackId); its SpecError gets
        this file and field."""
        if key not in self.table:
            if required:
                raise self.error(key, "is required")
            return None
        try:
            return parse(self.table[key])
        except SpecError as error:
            raise self.error(key, error.message) from None


def drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out None, empty strings, lists and tables when dumping optional fields."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}
