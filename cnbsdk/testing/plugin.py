"""The pytest11 plugin: fixtures for testing buildpacks (see docs/tutorial.md).

Installed with cnbsdk, active in every pytest run::

    def test_build(cnb_app, run_build):
        result = run_build("my_buildpack", cnb_app({"hello.txt": "hi"}), plan=["hello"])
        assert result.exit_code == 0, result.output
        assert result.layers["greeting"].types.launch

Fixtures:
    cnb_app          factory: files (or a directory to copy) -> a fresh app dir
    cnb_platform     factory: env=..., bindings=... -> a platform dir
    cnb_layers       factory: restored={name: {"metadata", "files"}}, store=... -> a layers dir
    run_detect       (buildpack, app, ...) -> DetectRun  (exit_code, output, passed, plan)
    run_build        (buildpack, app, plan=..., ...) -> BuildRun
                     (exit_code, output, layers, launch, build, store, SBOMs)
    cnb_package      factory: buildpack -> a packaged buildpack dir (runs as a subprocess)
    cnb_detect_context / cnb_build_context
                     factories: the context a hook would get, to unit-test helpers
    cnb_build        (app, buildpacks, env=..., builder=..., expect_failure=...) -> a whole
                     app image built as ``cnbsdk build`` builds it (docs/testing.md):
                     .log, .phases, .image, .sbom(...), .rebuild(...), .start(), .run(cmd)

``buildpack`` is an import ref (``"my_buildpack"``), an installed buildpack's id, or a
packaged directory (``cnb_package(...)``'s ``Path``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cnbsdk.testing.inputs import (
    FileContent,
    restore_layer,
    restore_store,
    write_files,
    write_platform_dir,
)
from cnbsdk.testing.runner import BuildpackLike, BuildpackRunner, resolve_buildpack


def _fresh(root: Path, prefix: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


@pytest.fixture
def cnb_workdir(tmp_path: Path) -> Path:
    """Where the fixtures of one test put their directories."""
    return tmp_path / "cnb"


@pytest.fixture
def cnb_app(cnb_workdir: Path) -> Callable[..., Path]:
    """``cnb_app({"hello.txt": "hi"})`` or ``cnb_app(copy_from=fixture_dir)`` -> app dir."""

    def make(
        files: Mapping[str, FileContent] | None = None, *, copy_from: Path | None = None
    ) -> Path:
        app = _fresh(cnb_workdir, "app-")
        if copy_from is not None:
            shutil.copytree(copy_from, app, dirs_exist_ok=True, symlinks=True)
        return write_files(app, files or {})

    return make


@pytest.fixture
def cnb_platform(cnb_workdir: Path) -> Callable[..., Path]:
    """``cnb_platform(env={"BP_X": "1"}, bindings={"db": {"type": "postgresql"}})``."""

    def make(
        env: Mapping[str, str] | None = None,
        bindings: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Path:
        return write_platform_dir(_fresh(cnb_workdir, "platform-"), env, bindings)

    return make


@pytest.fixture
def cnb_layers(cnb_workdir: Path) -> Callable[..., Path]:
    """A buildpack's layers dir as the restorer leaves it: ``restored`` maps a layer name to
    ``{"metadata": {...}, "files": {...}}`` (tomls are written without ``[types]``; no
    ``files`` means metadata only, like a launch-only layer); ``store`` is store.toml."""

    def make(
        restored: Mapping[str, Mapping[str, Any]] | None = None,
        store: Mapping[str, Any] | None = None,
    ) -> Path:
        layers = _fresh(cnb_workdir, "layers-")
        for name, layer in (restored or {}).items():
            restore_layer(
                layers,
                name,
                metadata=layer.get("metadata"),
                files=layer.get("files"),
                sboms=layer.get("sboms"),
            )
        if store is not None:
            restore_store(layers, store)
        return layers

    return make


@pytest.fixture
def cnb_runner(cnb_workdir: Path) -> BuildpackRunner:
    return BuildpackRunner(cnb_workdir)


@pytest.fixture
def run_detect(cnb_runner: BuildpackRunner) -> Callable[..., Any]:
    """``run_detect(buildpack, app, platform_dir=None, env=None, target=None, exec_env=None)``."""
    return cnb_runner.detect


@pytest.fixture
def run_build(cnb_runner: BuildpackRunner) -> Callable[..., Any]:
    """``run_build(buildpack, app, plan=(), platform_dir=None, layers_dir=None, restore=None,
    env=None, target=None, exec_env=None)``; ``restore=previous_run`` rebuilds on its cache."""
    return cnb_runner.build


@pytest.fixture
def cnb_detect_context(cnb_runner: BuildpackRunner) -> Callable[..., Any]:
    """``cnb_detect_context(buildpack, app, platform_dir=None, env=None, target=None)`` ->
    the DetectContext detect would get, for unit tests of helpers that take one."""
    return cnb_runner.detect_context


@pytest.fixture
def cnb_build_context(cnb_runner: BuildpackRunner) -> Callable[..., Any]:
    """``cnb_build_context(buildpack, app, plan=(), platform_dir=None, layers_dir=None,
    env=None, target=None)`` -> the BuildContext build would get."""
    return cnb_runner.build_context


@pytest.fixture
def cnb_package(cnb_workdir: Path) -> Callable[..., Path]:
    """``cnb_package("my_buildpack")`` -> the directory ``cnbsdk package buildpack`` writes."""
    from cnbsdk.distribution.buildpack_dir import package_buildpack_dir

    def make(buildpack: BuildpackLike, **options: Any) -> Path:
        bp = resolve_buildpack(buildpack)
        source = bp.plugin if bp.plugin is not None else bp.buildpack_dir
        output = _fresh(cnb_workdir, "packaged-") / str(bp.id).replace("/", "_")
        return package_buildpack_dir(source, output, **options).path

    return make


@pytest.fixture
def cnb_build(cnb_workdir: Path) -> Iterator[Any]:
    """``cnb_build(app, buildpacks, ...)`` -> ``ImageBuildResult`` (``cnbsdk.testing.image_build``);
    every app the test started is stopped when it ends, passed or failed."""
    from cnbsdk.testing.image_build import ImageHarness

    harness = ImageHarness(cnb_workdir / "images")
    try:
        yield harness
    finally:
        harness.stop_all()
