"""Every buildpack-side model reads the spec's own examples and third-party files, and
writes them back without losing anything: parse -> dump -> parse gives an equal model, and
every key of the input (with a value) is in the dumped TOML."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.buildpack_plan import BuildpackPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.exec_d import ExecDOutput
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.schema import validate
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.toml_file import parse_toml, read_toml

FIXTURES = Path(__file__).parent / "fixtures"

# (fixture, model, schema name, keys renamed on purpose when dumping)
CASES: list[tuple[str, type[Any], str, dict[str, str]]] = [
    # The spec writes [[buildpack.exec-env]] name=...; pack and the lifecycle read a string
    # array, which is what cnbsdk writes.
    ("spec/buildpack.toml", BuildpackDescriptor, "buildpack", {"buildpack.exec-env[].name": ""}),
    ("spec/stacks-buildpack.toml", BuildpackDescriptor, "buildpack", {}),
    ("spec/launch.toml", LaunchToml, "launch", {}),
    ("spec/build.toml", BuildToml, "build", {}),
    ("spec/store.toml", StoreToml, "store", {}),
    ("spec/plan.toml", BuildPlan, "build-plan", {}),
    ("spec/buildpack-plan.toml", BuildpackPlan, "buildpack-plan", {}),
    ("spec/layer.toml", LayerContentMetadata, "layer", {}),
    ("spec/exec.d.toml", ExecDOutput, "exec-d", {}),
    # libpak's legacy `sha256` key is written back as `checksum`.
    (
        "third-party/paketo-buildpack.toml",
        BuildpackDescriptor,
        "buildpack",
        {"metadata.dependencies[].sha256": "metadata.dependencies[].checksum"},
    ),
    ("third-party/heroku-buildpack.toml", BuildpackDescriptor, "buildpack", {}),
    ("third-party/composite-buildpack.toml", BuildpackDescriptor, "buildpack", {}),
    ("third-party/bash-launch.toml", LaunchToml, "launch", {}),
    ("third-party/ruby-layer.toml", LayerContentMetadata, "layer", {}),
]


def key_paths(data: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every key that holds a value; array items of tables become ``[]``.

    ``false`` and empty values are the spec's defaults, so they count as no value."""
    paths: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else key
            if value is False or value in ({}, [], ""):
                continue
            paths.add(path)
            paths |= key_paths(value, path)
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, dict):
                paths |= key_paths(item, f"{prefix}[]")
    return paths


@pytest.mark.parametrize(
    ("fixture", "model", "schema", "renamed"), CASES, ids=[c[0] for c in CASES]
)
def test_round_trip_keeps_model_and_keys(
    fixture: str, model: type[Any], schema: str, renamed: dict[str, str]
) -> None:
    path = FIXTURES / fixture
    original = model.read(path)

    dumped = original.to_toml()
    again = model.from_toml(dumped, file=path.name)

    assert again == original
    assert again.to_toml() == dumped
    source_keys = {renamed.get(key, key) for key in key_paths(read_toml(path))} - {""}
    missing = source_keys - key_paths(parse_toml(dumped, file="dumped"))
    assert not missing, f"keys lost when writing {fixture}: {sorted(missing)}"


@pytest.mark.parametrize(
    ("fixture", "model", "schema", "renamed"), CASES, ids=[c[0] for c in CASES]
)
def test_examples_pass_the_json_schema_as_read_and_as_written(
    fixture: str, model: type[Any], schema: str, renamed: dict[str, str]
) -> None:
    path = FIXTURES / fixture
    validate(read_toml(path), schema, file=path.name)
    validate(parse_toml(model.read(path).to_toml(), file="dumped"), schema, file=path.name)


def test_write_then_read_gives_the_same_model(tmp_path: Path) -> None:
    descriptor = BuildpackDescriptor.read(FIXTURES / "third-party/paketo-buildpack.toml")
    target = tmp_path / "buildpack.toml"

    descriptor.write(target)

    assert BuildpackDescriptor.read(target) == descriptor
    assert [p.name for p in tmp_path.iterdir()] == ["buildpack.toml"]


def test_models_parse_without_jsonschema_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runtime vendored into a packaged buildpack has no jsonschema; parsing still works."""
    with_schema = [model.read(FIXTURES / fixture) for fixture, model, _, _ in CASES]

    monkeypatch.setitem(sys.modules, "jsonschema", None)
    without_schema = [model.read(FIXTURES / fixture) for fixture, model, _, _ in CASES]

    assert without_schema == with_schema
