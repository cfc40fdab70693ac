"""Loading plugins by import reference and by installed entry point."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from cnbsdk.buildpack import BuildpackError
from cnbsdk.buildpack.plugin import find_installed, installed_buildpacks, load_plugin

from .conftest import FIXTURE_PLUGINS


def install(site: Path, dist: str, version: str, entry_points: dict[str, str]) -> None:
    """Make ``site`` look like an installed distribution (a real .dist-info directory)."""
    info = site / f"{dist}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {value}" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[cnbsdk]\n{lines}\n")


def test_load_by_reference(tmp_path: Path) -> None:
    plugin = load_plugin("fixture_hello")
    assert plugin.descriptor_path == FIXTURE_PLUGINS / "fixture_hello" / "buildpack.toml"
    assert str(plugin.descriptor.buildpack.id) == "tests/hello"
    assert plugin.package_root == FIXTURE_PLUGINS / "fixture_hello"
    assert plugin.implements_detect and plugin.implements_build
    assert plugin.entry_point == ""


def test_load_by_module_attribute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "attr_plugin_pkg"
    pkg.mkdir()
    (pkg / "buildpack.toml").write_text(
        'api = "0.10"\n[buildpack]\nid = "t/attr"\nversion = "1.0.0"\n'
    )
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from cnbsdk.buildpack import BuildResult, hookimpl

            class Buildpack:
                @hookimpl
                def build(self, context):
                    return BuildResult()

            buildpack = Buildpack()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = load_plugin("attr_plugin_pkg:buildpack")
    assert str(plugin.descriptor.buildpack.id) == "t/attr"
    assert plugin.package_root == pkg
    assert not plugin.implements_detect


def test_missing_buildpack_toml_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "no_toml_plugin.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BuildpackError) as raised:
        load_plugin("no_toml_plugin")
    assert str(raised.value).startswith(f"{tmp_path / 'buildpack.toml'}: buildpack plugin")


def test_installed_buildpacks_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(tmp_path, "hello_dist", "3.1.0", {"hello": "fixture_hello"})
    monkeypatch.syspath_prepend(str(tmp_path))

    found = [p for p in installed_buildpacks() if p.entry_point == "hello"]

    assert len(found) == 1
    assert found[0].distribution == "hello_dist 3.1.0"
    assert find_installed("tests/hello").ref == "fixture_hello"
    assert find_installed("hello").entry_point == "hello"
    assert find_installed("hello_dist").descriptor.buildpack.id == "tests/hello"
    with pytest.raises(BuildpackError, match="no installed buildpack 'tests/nothing'"):
        find_installed("tests/nothing")


def test_broken_entry_point_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "broken_dist", "1.0.0", {"broken": "no_such_module_abc"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BuildpackError) as raised:
        installed_buildpacks()
    message = str(raised.value)
    assert "entry point 'broken' (no_such_module_abc)" in message
    assert "ModuleNotFoundError" in message
