"""The buildpack-side JSON Schemas ship with the package and are valid draft 2020-12."""

from __future__ import annotations

import jsonschema
import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.schema import load_schema, validate

NAMES = ["buildpack", "build-plan", "buildpack-plan", "layer", "launch", "build", "store", "exec-d"]


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_errors_name_the_missing_key_rather_than_its_table() -> None:
    with pytest.raises(SpecError) as caught:
        validate({"api": "0.10", "buildpack": {"id": "a"}}, "buildpack", file="buildpack.toml")

    assert str(caught.value) == "buildpack.toml: buildpack.version: is required"


def test_schema_accepts_a_composite_with_targets_but_not_with_stacks() -> None:
    composite = {
        "api": "0.10",
        "buildpack": {"id": "a", "version": "1.0.0"},
        "order": [{"group": [{"id": "b", "version": "1.0.0"}]}],
        "targets": [{"os": "linux"}],
    }
    validate(composite, "buildpack", file="buildpack.toml")

    with pytest.raises(SpecError, match=r"^buildpack.toml: stacks: "):
        validate({**composite, "stacks": [{"id": "*"}]}, "buildpack", file="buildpack.toml")
