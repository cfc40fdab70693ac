"""The lifecycle's own files: order.toml, group.toml, the detector's plan.toml, run.toml and
stack.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec import platform_files
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.platform_files import (
    GroupToml,
    OrderToml,
    PlanRequirement,
    PlatformPlan,
    RunImage,
    RunToml,
    StackToml,
)
from cnbsdk.spec.schema import load_schema
from cnbsdk.spec.toml_file import read_toml

LIFECYCLE = Path(__file__).parent / "fixtures" / "platform" / "lifecycle"


@pytest.fixture(params=["with-jsonschema", "model-only"])
def checks(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: as the CLI does, and as the vendored runtime without jsonschema."""
    if request.param == "model-only":
        monkeypatch.setattr(platform_files, "validate", lambda *args, **kwargs: None)
    return str(request.param)


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("order.toml", OrderToml),
        ("group.toml", GroupToml),
        ("plan.toml", PlatformPlan),
        ("run.toml", RunToml),
        ("stack.toml", StackToml),
    ],
)
def test_round_trip_keeps_every_key(name: str, model: Any, tmp_path: Path) -> None:
    parsed = model.read(LIFECYCLE / name)
    parsed.write(tmp_path / name)
    assert read_toml(tmp_path / name) == read_toml(LIFECYCLE / name)
    assert model.read(tmp_path / name) == parsed


def test_order() -> None:
    order = OrderToml.read(LIFECYCLE / "order.toml")
    assert [[str(e.id) for e in g.group] for g in order.order] == [
        ["example/java", "example/procfile"],
        ["example/node"],
    ]
    assert order.order[0].group[1].optional
    assert [str(e.id) for g in order.order_extensions for e in g.group] == ["example/curl"]


def test_group() -> None:
    group = GroupToml.read(LIFECYCLE / "group.toml")
    assert [(str(m.id), m.api) for m in group.group] == [
        ("example/node", ApiVersion(0, 10)),
        ("example/procfile", ApiVersion(0, 12)),
    ]
    assert group.group[0].homepage == "https://example.com/node"
    assert [str(m.id) for m in group.group_extensions] == ["example/curl"]


def test_old_lifecycles_mark_extensions_inside_group() -> None:
    text = '[[group]]\nid = "samples/curl"\nversion = "0.0.1"\napi = "0.7"\nextension = true\n'
    group = GroupToml.from_toml(text)
    assert group.group[0].extension
    assert group.to_dict() == GroupToml.from_toml(group.to_toml()).to_dict()


def test_platform_plan_entries_for_a_buildpack() -> None:
    plan = PlatformPlan.read(LIFECYCLE / "plan.toml")
    (node,) = plan.entries_for("example/node-engine")
    assert node.requires == (
        PlanRequirement("node", {"version": "20.*", "version-source": ".nvmrc"}),
        PlanRequirement("node", {"build": True}),
    )
    assert plan.entries_for("example/unknown") == ()


def test_run_images_and_their_candidates() -> None:
    run = RunToml.read(LIFECYCLE / "run.toml")
    assert run.images[0].candidates == (
        "localhost:5000/example/run:bookworm",
        "127.0.0.1:5001/example/run:bookworm",
        "localhost:5002/mirror/run:bookworm",
    )
    assert run.images[1] == RunImage("localhost:5000/example/run-slim:bookworm")


def test_stack_toml() -> None:
    stack = StackToml.read(LIFECYCLE / "stack.toml")
    assert stack.run_image == RunImage(
        "localhost:5000/example/run:bookworm", ("127.0.0.1:5001/example/run:bookworm",)
    )


def test_empty_run_image_table_means_no_run_image() -> None:
    """pack writes ``[run-image]`` with nothing in it for a builder without a run image."""
    assert StackToml.from_toml("[run-image]\n").run_image is None
    assert StackToml().to_dict() == {}


BAD = [
    (
        OrderToml,
        '[[order]]\n[[order.group]]\nid = "example/a"\n',
        "order.toml: order[0].group[0].version: is required",
    ),
    (
        OrderToml,
        '[[order]]\n[[order.group]]\nid = "app"\nversion = "1.0.0"\n',
        "order.toml: order[0].group[0].id: ",
    ),
    (
        GroupToml,
        '[[group]]\nid = "example/a"\nversion = "1.0.0"\n',
        "group.toml: group[0].api: is required",
    ),
    (
        GroupToml,
        '[[group]]\nid = "example/a"\nversion = "1.0.0"\napi = "zero"\n',
        "group.toml: group[0].api: invalid api version",
    ),
    (
        PlatformPlan,
        '[[entries]]\n[[entries.providers]]\nid = "example/a"\nversion = "1.0.0"\n'
        "[[entries.requires]]\n[entries.requires.metadata]\nv = 1\n",
        "plan.toml: entries[0].requires[0].name: is required",
    ),
    (
        PlatformPlan,
        '[[entries]]\n[[entries.providers]]\nid = "example/a"\nversion = "1.0"\n',
        "plan.toml: entries[0].providers[0].version: invalid version",
    ),
    (RunToml, "[[images]]\nmirrors = []\n", "run.toml: images[0].image: is required"),
    (RunToml, '[[images]]\nimage = ""\n', "run.toml: images[0].image: must not be empty"),
    (
        StackToml,
        '[run-image]\nmirrors = ["localhost:5001/r"]\n',
        "stack.toml: run-image.image: is required",
    ),
    (StackToml, "[run-image]\nimage = 5\n", "stack.toml: run-image.image: expected a string"),
]


@pytest.mark.parametrize(("model", "text", "expected"), BAD)
def test_bad_platform_file_fails_naming_file_and_field(
    checks: str, model: Any, text: str, expected: str
) -> None:
    with pytest.raises(SpecError) as caught:
        model.from_toml(text)
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


@pytest.mark.parametrize(
    "name",
    ["package", "builder", "project", "order", "group", "platform-plan", "run", "stack"],
)
def test_schema_is_a_valid_json_schema(name: str) -> None:
    """Editors and other tools load these files: they must be valid Draft 2020-12 schemas."""
    import jsonschema

    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["description"]
