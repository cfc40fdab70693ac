"""Keys a CNB file's own tables do not define (``verison``, ``sbom-format``), found by walking
the file's JSON Schema, with the key most likely meant.

The spec lets platforms ignore unknown keys, so they are warnings, not errors; but a
misspelled key is silently a missing one, and the error that follows ("buildpack.version: is
required") never names it. A table the schema leaves open (no ``properties``, or
``additionalProperties``/``patternProperties`` allowing more) is never checked, nor is any
``metadata`` table or the top of project.toml (namespaces): they belong to their owners.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cnbsdk.spec.schema_files import load_schema

# Tables the spec leaves open though their schema lists some keys: (schema, dotted path).
_OPEN_TABLES = {("project", "")}


@dataclass(frozen=True)
class UnknownKey:
    """``path`` is the dotted table (``buildpack``, ``targets[0]``), ``key`` the unknown key."""

    path: str
    key: str
    suggestion: str | None = None

    @property
    def field(self) -> str:
        return f"{self.path}.{self.key}" if self.path else self.key

    @property
    def short(self) -> str:
        """``buildpack.verison (did you mean 'version'?)``."""
        meant = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{self.field}{meant}"

    def __str__(self) -> str:
        meant = f" (did you mean {self.suggestion!r}?)" if self.suggestion else ""
        return f"{self.field}: unknown key{meant}"


def unknown_keys(document: Any, schema_name: str) -> list[UnknownKey]:
    """Every key of ``document`` that its schema's closed tables do not define."""
    schema = load_schema(schema_name)
    return list(_walk(document, schema, schema, "", schema_name))


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    seen = 0
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str) and seen < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = target
        seen += 1
    return node


def _branches(node: Any, root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The node and the object schemas of its allOf/anyOf/oneOf branches, resolved."""
    node = _resolve(node, root)
    if not isinstance(node, Mapping):
        return []
    found = [node]
    for keyword in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(keyword, ()):
            found.extend(_branches(branch, root))
    for keyword in ("then", "else"):
        if keyword in node:
            found.extend(_branches(node[keyword], root))
    return found


def _walk(
    value: Any, node: Any, root: Mapping[str, Any], path: str, schema_name: str
) -> Iterator[UnknownKey]:
    branches = _branches(node, root)
    if isinstance(value, Mapping):
        properties: dict[str, Any] = {}
        open_table = (schema_name, path) in _OPEN_TABLES or path.rpartition(".")[2] == "metadata"
        for branch in branches:
            if "properties" in branch:
                properties.update(branch["properties"])
            extra = branch.get("additionalProperties")
            if extra not in (None, False) or "patternProperties" in branch:
                open_table = True
        if not properties:
            return
        for key, item in value.items():
            if key in properties:
                child = f"{path}.{key}" if path else str(key)
                yield from _walk(item, properties[key], root, child, schema_name)
            elif not open_table:
                import difflib  # only for a key that is wrong: every phase imports this module

                close = difflib.get_close_matches(str(key), list(properties), n=1, cutoff=0.6)
                yield UnknownKey(path, str(key), close[0] if close else None)
    elif isinstance(value, list):
        items = [branch["items"] for branch in branches if isinstance(branch.get("items"), Mapping)]
        for index, item in enumerate(value):
            for item_schema in items[:1]:
                yield from _walk(item, item_schema, root, f"{path}[{index}]", schema_name)


__all__ = ["UnknownKey", "unknown_keys"]
