"""Cached and uncached layers: the keep/rebuild decision, its logged cause, the layer toml."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.buildpack import Action, BuildpackError, Layers, Logger, ReplaceMetadata
from cnbsdk.errors import SpecError
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.toml_file import read_toml


class Log:
    """A logger writing to a buffer, and the lines written so far."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.logger = Logger({}, stream=self.buffer)

    @property
    def lines(self) -> list[str]:
        return self.buffer.getvalue().splitlines()


@pytest.fixture
def log() -> Log:
    return Log()


def restore(
    layers_dir: Path, name: str, metadata: dict[str, Any], *, contents: bool = True
) -> None:
    """Leave a layer the way the lifecycle restores it: toml without [types], contents."""
    (layers_dir / f"{name}.toml").write_text(LayerContentMetadata(metadata=metadata).to_toml())
    if contents:
        (layers_dir / name).mkdir()
        (layers_dir / name / "kept.txt").write_text("from the cache")


def test_new_layer_is_created_with_types_and_expected_metadata(tmp_path: Path, log: Log) -> None:
    layer = Layers(tmp_path, logger=log.logger).cached(
        "node", expected={"version": "22.11.0"}, launch=True
    )

    assert not layer.reused
    assert layer.cause == "no cached layer"
    assert layer.path == tmp_path / "node" and layer.path.is_dir()
    assert read_toml(tmp_path / "node.toml") == {
        "types": {"launch": True, "build": False, "cache": True},
        "metadata": {"version": "22.11.0"},
    }
    assert log.lines == ["  Creating layer 'node'"]


def test_unchanged_metadata_reuses_and_rewrites_the_types(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "node", {"version": "22.11.0"})

    layer = Layers(tmp_path, logger=log.logger).cached(
        "node", expected={"version": "22.11.0"}, build=True, launch=True
    )

    assert layer.reused
    assert layer.cause == "version 22.11.0 unchanged"
    assert (layer.path / "kept.txt").read_text() == "from the cache"
    assert log.lines == ["  Reusing layer 'node' (version 22.11.0 unchanged)"]
    restored = LayerContentMetadata.read(tmp_path / "node.toml")
    assert restored.types == LayerTypes(launch=True, build=True, cache=True)
    assert restored.metadata == {"version": "22.11.0"}


def test_changed_metadata_rebuilds_with_the_change_as_cause(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "node", {"version": "22.10.0", "arch": "amd64"})
    (tmp_path / "node.sbom.cdx.json").write_text("{}")

    layer = Layers(tmp_path, logger=log.logger).cached(
        "node", expected={"version": "22.11.0", "arch": "amd64"}, launch=True
    )

    assert not layer.reused
    assert layer.cause == "version changed from 22.10.0 to 22.11.0"
    assert list(layer.path.iterdir()) == []
    assert not (tmp_path / "node.sbom.cdx.json").exists()
    assert LayerContentMetadata.read(tmp_path / "node.toml").metadata["version"] == "22.11.0"
    assert log.lines == ["  Rebuilding layer 'node': version changed from 22.10.0 to 22.11.0"]


def test_expected_metadata_compares_as_toml_values(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "deps", {"files": ["a", "b"], "count": 2})
    layer = Layers(tmp_path, logger=log.logger).cached(
        "deps", expected={"files": ("a", "b"), "count": 2}
    )
    assert layer.reused


def test_restored_metadata_without_contents_is_rebuilt(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "node", {"version": "1"}, contents=False)
    layer = Layers(tmp_path, logger=log.logger).cached("node", expected={"version": "1"})
    assert not layer.reused
    assert log.lines == ["  Rebuilding layer 'node': its contents were not restored"]


def test_on_restored_decides_with_its_own_cause(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "node_modules", {"lock": "abc"})
    seen: list[tuple[dict[str, Any], Path]] = []

    def on_restored(metadata: dict[str, Any], path: Path) -> tuple[Action, str]:
        seen.append((metadata, path))
        return Action.DELETE, "package-lock.json changed"

    layer = Layers(tmp_path, logger=log.logger).cached(
        "node_modules", expected={"lock": "def"}, build=True, on_restored=on_restored
    )

    assert seen == [({"lock": "abc"}, tmp_path / "node_modules")]
    assert not layer.reused and layer.cause == "package-lock.json changed"
    assert log.lines == ["  Rebuilding layer 'node_modules': package-lock.json changed"]
    assert layer.metadata == {"lock": "def"}


def test_on_restored_keep_keeps_the_restored_metadata(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "tools", {"version": "1", "extra": "x"})
    layer = Layers(tmp_path, logger=log.logger).cached(
        "tools",
        expected={"version": "2"},
        on_restored=lambda m, p: (Action.KEEP, "any version will do"),
    )
    assert layer.reused
    assert layer.metadata == {"version": "1", "extra": "x"}
    assert log.lines == ["  Reusing layer 'tools' (any version will do)"]


def test_on_restored_with_a_wrong_answer_is_an_error(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "tools", {"version": "1"})
    with pytest.raises(
        BuildpackError, match=r"on_restored must return Action\.KEEP or Action\.DELETE"
    ):
        Layers(tmp_path, logger=log.logger).cached("tools", on_restored=lambda m, p: True)  # type: ignore[arg-type,return-value]


def test_invalid_metadata_is_deleted_by_default(tmp_path: Path, log: Log) -> None:
    (tmp_path / "old.toml").write_text("launch = true\n[metadata]\nversion = '1'\n")
    (tmp_path / "old").mkdir()

    layer = Layers(tmp_path, logger=log.logger).cached("old", expected={"version": "1"})

    assert not layer.reused
    assert "its metadata could not be read" in layer.cause
    assert "should be in the [types] table" in layer.cause
    assert log.lines[0].startswith("  Rebuilding layer 'old': its metadata could not be read")


def test_on_invalid_replace_metadata_migrates_then_decides_again(tmp_path: Path, log: Log) -> None:
    (tmp_path / "old.toml").write_text("launch = true\n[metadata]\nv = '1'\n")
    (tmp_path / "old").mkdir()
    raws: list[dict[str, Any]] = []

    def on_invalid(raw: dict[str, Any]) -> tuple[ReplaceMetadata, str]:
        raws.append(raw)
        return ReplaceMetadata({"version": raw["metadata"]["v"]}), "migrated from the v key"

    layer = Layers(tmp_path, logger=log.logger).cached(
        "old", expected={"version": "1"}, on_invalid=on_invalid
    )

    assert raws == [{"launch": True, "metadata": {"v": "1"}}]
    assert layer.reused
    assert layer.cause == "version 1 unchanged"


def test_on_invalid_gets_an_empty_table_for_broken_toml(tmp_path: Path, log: Log) -> None:
    (tmp_path / "old.toml").write_text("this is = = not toml")
    (tmp_path / "old").mkdir()
    raws: list[dict[str, Any]] = []

    def on_invalid(raw: dict[str, Any]) -> tuple[Action, str]:
        raws.append(raw)
        return Action.DELETE, "unreadable"

    layer = Layers(tmp_path, logger=log.logger).cached("old", on_invalid=on_invalid)
    assert raws == [{}]
    assert not layer.reused and layer.cause == "unreadable"


def test_uncached_layer_is_always_fresh(tmp_path: Path, log: Log) -> None:
    restore(tmp_path, "scratch", {"a": "b"})
    layer = Layers(tmp_path, logger=log.logger).uncached("scratch", launch=True)
    assert not layer.reused
    assert list(layer.path.iterdir()) == []
    assert read_toml(tmp_path / "scratch.toml") == {
        "types": {"launch": True, "build": False, "cache": False}
    }


def test_write_metadata_keeps_the_types(tmp_path: Path, log: Log) -> None:
    layer = Layers(tmp_path, logger=log.logger).cached("x", build=True)
    layer.write_metadata({"checksum": "sha256:00"})
    assert LayerContentMetadata.read(tmp_path / "x.toml") == LayerContentMetadata(
        types=LayerTypes(build=True, cache=True), metadata={"checksum": "sha256:00"}
    )


def test_a_layer_name_is_handled_once_per_build(tmp_path: Path, log: Log) -> None:
    layers = Layers(tmp_path, logger=log.logger)
    layers.cached("x")
    with pytest.raises(BuildpackError, match="layer 'x' was already created in this build"):
        layers.uncached("x")


@pytest.mark.parametrize("name", ["build", "launch", "store", "../escape", "a/b", ""])
def test_invalid_layer_names_are_refused(tmp_path: Path, log: Log, name: str) -> None:
    with pytest.raises(SpecError):
        Layers(tmp_path, logger=log.logger).cached(name)
    assert list(tmp_path.iterdir()) == []


def test_metadata_that_is_not_toml_is_refused(tmp_path: Path, log: Log) -> None:
    with pytest.raises(BuildpackError, match="layer 'x': metadata cannot be written as TOML"):
        Layers(tmp_path, logger=log.logger).cached("x", expected={"version": None})
