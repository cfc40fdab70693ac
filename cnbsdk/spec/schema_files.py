"""The JSON Schemas shipped in ``cnbsdk/spec/schemas``, loaded by name."""

from __future__ import annotations

import json
from functools import cache
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json`` from the package."""
    from importlib import resources  # ~6 ms, and not needed by every program that imports this

    schemas = resources.files("cnbsdk.spec").joinpath("schemas")
    text = schemas.joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]
