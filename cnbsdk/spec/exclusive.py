"""Mutually exclusive keys (``uri`` or ``image``, ``version`` or ``uri`` or ``script``...).

The messages are the same words the JSON Schemas carry in ``errorMessage``, so a user sees the
same line whether or not jsonschema is installed.
"""

from __future__ import annotations

from cnbsdk.errors import SpecError
from cnbsdk.spec.fields import Fields


def listing(keys: tuple[str, ...]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} or {keys[-1]}"


def at_most_one_of(f: Fields, keys: tuple[str, ...]) -> str | None:
    """The one of ``keys`` present in the table, or None; an error if several are."""
    present = [key for key in keys if key in f.table]
    if len(present) > 1:
        raise SpecError(f"set only one of {listing(keys)}", file=f.file, field=f.path or None)
    return present[0] if present else None


def one_of(f: Fields, keys: tuple[str, ...]) -> str:
    """The one of ``keys`` present in the table; an error if none or several are."""
    key = at_most_one_of(f, keys)
    if key is None:
        raise SpecError(f"needs {listing(keys)}", file=f.file, field=f.path or None)
    return key
