"""The harness restores a previous build's layers by the lifecycle's own rule."""

from __future__ import annotations

from pathlib import Path

from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.testing.inputs import restore_from_previous_build

FLAGS = {  # name: (launch, build, cache)
    "runtime": (True, False, False),
    "toolchain": (True, True, False),
    "modules": (True, False, True),
    "downloads": (False, False, True),
    "compiler": (False, True, False),
}


def test_restored_layers_follow_the_lifecycle_table(tmp_path: Path) -> None:
    previous = tmp_path / "previous"
    for name, (launch, build, cache) in FLAGS.items():
        (previous / name).mkdir(parents=True)
        (previous / name / "file").write_text(name)
        LayerContentMetadata(
            types=LayerTypes(launch=launch, build=build, cache=cache), metadata={"v": name}
        ).write(previous / f"{name}.toml")
    layers = tmp_path / "layers"
    restored = restore_from_previous_build(previous, layers)
    assert sorted(restored) == ["downloads", "modules", "runtime"]
    assert not (layers / "toolchain.toml").exists()  # launch+build: the buildpack recreates it
    assert (layers / "runtime.toml").is_file() and not (layers / "runtime").exists()
    assert (layers / "modules" / "file").read_text() == "modules"
    assert "[types]" not in (layers / "downloads.toml").read_text()
