"""The JSON Schemas shipped in ``cnbsdk/spec/schemas`` and their application with jsonschema.

jsonschema is used when it is importable. The vendored runtime inside a packaged
buildpack does not carry it (it depends on a compiled extension), so there the models'
own field checks are the validation.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from cnbsdk.errors import SpecError


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Load ``schemas/<name>.schema.json`` from the package."""
    schemas = resources.files("cnbsdk.spec").joinpath("schemas")
    text = schemas.joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _field_path(path: Any) -> str:
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "(top level)"


def validate(document: Any, name: str, *, file: str) -> None:
    """Validate a parsed document against a named schema; raise SpecError for the worst."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - vendored runtime without jsonschema
        return
    schema = load_schema(name)
    validator = jsonschema.validators.validator_for(schema)(schema)
    best = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if best is not None:
        raise SpecError(best.message, file=file, field=_field_path(best.absolute_path))
