"""The lifecycle's JSON labels read and written in the exact shapes of cnb-spec-digest §4.6/§4.7."""

from __future__ import annotations

import json

import pytest

from cnbsdk.errors import SpecError
from cnbsdk.spec.labels import (
    BUILD_METADATA_LABEL,
    CACHE_METADATA_LABEL,
    LIFECYCLE_METADATA_LABEL,
    PROJECT_METADATA_LABEL,
    BuildMetadata,
    BuildpackLayersMetadata,
    CacheMetadata,
    LayerMetadata,
    LifecycleMetadata,
    ProjectMetadata,
    ProjectSource,
    RunImageMetadata,
)
from cnbsdk.spec.schema import validate

SHA = "sha256:" + "a" * 64

# The shape the reference lifecycle writes (platform.md §io.buildpacks.lifecycle.metadata).
LIFECYCLE_JSON = {
    "app": [{"sha": "sha256:" + "1" * 64}, {"sha": "sha256:" + "2" * 64}],
    "sbom": {"sha": "sha256:" + "3" * 64},
    "buildpacks": [
        {
            "key": "example/ruby",
            "version": "1.2.3",
            "layers": {
                "ruby": {
                    "sha": "sha256:" + "4" * 64,
                    "data": {"version": "3.2"},
                    "build": False,
                    "launch": True,
                    "cache": True,
                }
            },
            "store": {"metadata": {"k": "v"}},
        },
        {"key": "example/empty", "version": "0.0.1", "layers": {}},
    ],
    "config": {"sha": "sha256:" + "5" * 64},
    "launcher": {"sha": "sha256:" + "6" * 64},
    "process-types": {"sha": "sha256:" + "7" * 64},
    "runImage": {
        "topLayer": "sha256:" + "8" * 64,
        "reference": "registry.test/run@sha256:" + "9" * 64,
        "image": "registry.test/run:tag",
        "mirrors": ["mirror.test/run:tag"],
    },
    "stack": {"runImage": {"image": "registry.test/run:tag", "mirrors": ["mirror.test/run:tag"]}},
}

BUILD_JSON = {
    "buildpacks": [
        {"id": "example/ruby", "version": "1.2.3", "homepage": "https://ruby.invalid"},
        {"id": "example/other", "version": "0.1.0"},
    ],
    "launcher": {
        "version": "0.21.0",
        "source": {"git": {"repository": "example.invalid/lifecycle", "commit": "abc123"}},
    },
    "processes": [
        {
            "type": "web",
            "command": ["bundle", "exec", "rackup"],
            "args": ["-p", "8080"],
            "direct": True,
            "buildpackID": "example/ruby",
            "working-dir": "/workspace/sub",
            "exec-env": ["production"],
        },
        {
            "type": "worker",
            "command": ["sidekiq"],
            "args": [],
            "direct": True,
            "buildpackID": "example/ruby",
        },
    ],
    "buildpack-default-process-type": "web",
}

PROJECT_JSON = {
    "source": {
        "type": "git",
        "version": {"commit": "0123abc"},
        "metadata": {"repository": "example.invalid/app", "refs": ["main"]},
    }
}

CACHE_JSON = {
    "sbom": {"sha": "sha256:" + "c" * 64},
    "buildpacks": [
        {
            "key": "example/ruby",
            "version": "1.2.3",
            "layers": {
                "gems": {
                    "sha": "sha256:" + "d" * 64,
                    "data": {"lock": "x"},
                    "build": True,
                    "launch": False,
                    "cache": True,
                }
            },
        }
    ],
}


def test_lifecycle_metadata_round_trips_the_lifecycle_shape() -> None:
    metadata = LifecycleMetadata.from_json(json.dumps(LIFECYCLE_JSON))
    assert metadata.app == ("sha256:" + "1" * 64, "sha256:" + "2" * 64)
    assert metadata.sbom == "sha256:" + "3" * 64
    assert metadata.process_types == "sha256:" + "7" * 64
    assert metadata.run_image == RunImageMetadata(
        top_layer="sha256:" + "8" * 64,
        reference="registry.test/run@sha256:" + "9" * 64,
        image="registry.test/run:tag",
        mirrors=("mirror.test/run:tag",),
    )
    ruby = metadata.layer("example/ruby", "ruby")
    assert ruby == LayerMetadata("sha256:" + "4" * 64, {"version": "3.2"}, False, True, True)
    assert metadata.buildpack("example/ruby").store == {"metadata": {"k": "v"}}  # type: ignore[union-attr]
    assert json.loads(metadata.to_json()) == LIFECYCLE_JSON


def test_lifecycle_metadata_output_is_compact_sorted_and_stable() -> None:
    text = LifecycleMetadata.from_json(LIFECYCLE_JSON).to_json()
    assert " " not in text.replace("registry.test/run:tag", "")
    assert text == json.dumps(json.loads(text), separators=(",", ":"), sort_keys=True)
    reordered = dict(reversed(list(LIFECYCLE_JSON.items())))
    assert LifecycleMetadata.from_json(reordered).to_json() == text


def test_lifecycle_metadata_leaves_out_what_is_absent() -> None:
    metadata = LifecycleMetadata(
        app=(SHA,),
        buildpacks=(BuildpackLayersMetadata("example/x", "1.0.0"),),
        config=SHA,
        launcher=SHA,
        run_image=RunImageMetadata(SHA, "ref"),
        stack_run_image={"image": "run"},
    )
    data = json.loads(metadata.to_json())
    assert "sbom" not in data and "process-types" not in data
    assert "store" not in data["buildpacks"][0]
    assert data["runImage"] == {"topLayer": SHA, "reference": "ref"}
    assert data["stack"] == {"runImage": {"image": "run"}}
    validate(data, "lifecycle-metadata", file=LIFECYCLE_METADATA_LABEL)


def test_unknown_keys_and_nulls_are_tolerated_on_read() -> None:
    data = json.loads(json.dumps(LIFECYCLE_JSON))
    data["exec-env"] = ["production"]
    data["buildpacks"][0]["layers"]["ruby"]["data"] = None
    data["buildpacks"][0]["future"] = 1
    data["runImage"]["newField"] = {"x": 1}
    metadata = LifecycleMetadata.from_json(data)
    assert metadata.layer("example/ruby", "ruby").data == {}  # type: ignore[union-attr]
    assert BuildMetadata.from_json({**BUILD_JSON, "bom": [], "processes": None}).processes == ()


def test_old_app_object_and_string_command_are_read() -> None:
    old = LifecycleMetadata.from_json({"app": {"sha": SHA}, "launcher": {"sha": SHA}})
    assert old.app == (SHA,)
    build = BuildMetadata.from_json(
        {"processes": [{"type": "web", "command": "rackup", "direct": False}]}
    )
    assert build.processes[0].command == ("rackup",)
    assert build.processes[0].direct is False


def test_build_metadata_round_trips_the_lifecycle_shape() -> None:
    metadata = BuildMetadata.from_json(json.dumps(BUILD_JSON))
    assert metadata.default_process == "web"
    web = metadata.processes[0]
    assert (web.buildpack_id, web.working_dir, web.exec_env) == (
        "example/ruby",
        "/workspace/sub",
        ("production",),
    )
    assert metadata.launcher.commit == "abc123"
    assert json.loads(metadata.to_json()) == BUILD_JSON


def test_build_metadata_without_processes_writes_an_empty_list_and_no_default() -> None:
    data = json.loads(BuildMetadata().to_json())
    assert data["processes"] == []
    assert "buildpack-default-process-type" not in data
    assert "extensions" not in data
    validate(data, "build-metadata", file=BUILD_METADATA_LABEL)


def test_project_metadata_is_empty_object_when_nothing_is_known() -> None:
    assert ProjectMetadata().to_json() == "{}"
    assert ProjectMetadata.from_json("{}") == ProjectMetadata()
    assert ProjectMetadata(ProjectSource()).to_json() == "{}"
    metadata = ProjectMetadata.from_json(json.dumps(PROJECT_JSON))
    assert metadata.source is not None and metadata.source.type == "git"
    assert json.loads(metadata.to_json()) == PROJECT_JSON


def test_cache_metadata_round_trips() -> None:
    metadata = CacheMetadata.from_json(json.dumps(CACHE_JSON))
    assert metadata.sbom == "sha256:" + "c" * 64
    assert metadata.layer("example/ruby", "gems").build is True  # type: ignore[union-attr]
    assert metadata.layer("example/ruby", "nope") is None
    assert json.loads(metadata.to_json()) == CACHE_JSON
    assert CacheMetadata.from_json("{}") == CacheMetadata()


@pytest.mark.parametrize(
    ("name", "document"),
    [
        ("lifecycle-metadata", LIFECYCLE_JSON),
        ("build-metadata", BUILD_JSON),
        ("project-metadata", PROJECT_JSON),
        ("project-metadata", {}),
        ("cache-metadata", CACHE_JSON),
    ],
)
def test_schemas_accept_the_lifecycle_shapes(name: str, document: dict[str, object]) -> None:
    validate(document, name, file=name)


@pytest.mark.parametrize(
    ("model", "document", "label", "field"),
    [
        (
            LifecycleMetadata,
            {"buildpacks": [{"key": 1}]},
            LIFECYCLE_METADATA_LABEL,
            "buildpacks[0].key",
        ),
        (LifecycleMetadata, {"buildpacks": [{"version": "1"}]}, LIFECYCLE_METADATA_LABEL, "key"),
        (LifecycleMetadata, {"runImage": {"topLayer": 3}}, LIFECYCLE_METADATA_LABEL, "topLayer"),
        (
            LifecycleMetadata,
            {"buildpacks": [{"key": "a", "layers": {"l": {"launch": "yes"}}}]},
            LIFECYCLE_METADATA_LABEL,
            "launch",
        ),
        (
            BuildMetadata,
            {"processes": [{"type": "web", "command": [1]}]},
            BUILD_METADATA_LABEL,
            "command",
        ),
        (ProjectMetadata, {"source": "git"}, PROJECT_METADATA_LABEL, "source"),
        (CacheMetadata, {"sbom": "sha256:x"}, CACHE_METADATA_LABEL, "sbom"),
    ],
)
def test_bad_labels_give_one_line_errors_naming_label_and_field(
    model: type, document: dict[str, object], label: str, field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        model.from_json(json.dumps(document))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{label}: ")
    assert field in message


def test_invalid_json_names_the_label() -> None:
    with pytest.raises(SpecError, match=r"^io\.buildpacks\.lifecycle\.metadata: is not valid JSON"):
        LifecycleMetadata.from_json("{not json")
    with pytest.raises(SpecError, match="expected a table"):
        LifecycleMetadata.from_json("[1, 2]")
