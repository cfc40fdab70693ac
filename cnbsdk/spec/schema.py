"""The JSON Schemas shipped in ``cnbsdk/spec/schemas`` and their application with jsonschema.

jsonschema is used when it is importable. The vendored runtime inside a packaged
buildpack does not carry it (it depends on a compiled extension), so there the models'
own field checks are the validation.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from cnbsdk.errors import SpecError
from cnbsdk.spec.schema_files import load_schema
from cnbsdk.spec.unknown_keys import unknown_keys

_TYPE_NAMES = {
    "string": "a string",
    "boolean": "a boolean",
    "integer": "an integer",
    "number": "a number",
    "object": "a table",
    "array": "an array",
}


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _field_path(path: Any) -> str:
    parts: list[str] = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return "".join(parts) or "(top level)"


def _explain(error: Any) -> tuple[list[Any], str]:
    """The field path and a one-line message for a jsonschema error, worded like ``Fields``.

    A schema may carry ``"errorMessage": {"<keyword>": "<message>"}`` next to a keyword, to
    say what to do instead of what jsonschema saw; ``{value}`` in it becomes the bad value.
    """
    path = list(error.absolute_path)
    if "propertyNames" in error.relative_schema_path:
        path.append(error.instance)  # the bad key itself
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        if missing:
            return [*path, missing[0]], "is required"
    custom = schema.get("errorMessage")
    if isinstance(custom, dict) and isinstance(custom.get(error.validator), str):
        value = repr(error.instance)[:60]
        return path, str(custom[error.validator]).replace("{value}", value)
    # anyOf of "required" alternatives: one of several keys must be there; name the first.
    if (
        error.validator == "anyOf"
        and error.context
        and all(sub.validator == "required" for sub in error.context)
    ):
        return _explain(error.context[0])
    if error.validator == "type":
        value = error.validator_value
        kinds = value if isinstance(value, list) else [value]
        expected = " or ".join(_TYPE_NAMES.get(kind, str(kind)) for kind in kinds)
        return path, f"expected {expected}, got {_describe(error.instance)}"
    if error.validator in ("minItems", "minLength", "minProperties") and error.validator_value == 1:
        return path, "must not be empty"
    if error.validator == "enum":
        allowed = ", ".join(repr(value) for value in error.validator_value)
        return path, f"expected one of {allowed}, got {_describe(error.instance)}"
    if error.validator == "pattern":
        return path, f"invalid value {_describe(error.instance)}"
    return path, " ".join(str(error.message).split())[:200]


@cache
def _validator(name: str) -> Any:
    import jsonschema

    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema)


def validate(document: Any, name: str, *, file: str) -> None:
    """Validate a parsed document against a named schema; raise SpecError for the worst."""
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - vendored runtime without jsonschema
        return
    best = jsonschema.exceptions.best_match(_validator(name).iter_errors(document))
    if best is not None:
        path, message = _explain(best)
        raise SpecError(
            message,
            file=file,
            field=_field_path(path),
            hint=_unknown_keys_hint(document, name) if best.validator == "required" else None,
        )


def _unknown_keys_hint(document: Any, name: str) -> str | None:
    """A misspelled key is often why a required one is missing: name the unknown ones."""
    found = unknown_keys(document, name)[:3]
    if not found:
        return None
    return f"unknown key{'s' if len(found) > 1 else ''}: " + ", ".join(k.short for k in found)


__all__ = ["load_schema", "validate"]
