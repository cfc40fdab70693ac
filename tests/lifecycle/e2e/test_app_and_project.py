"""The app's way into the workspace (directory or archive, include/exclude) and what
project.toml and the env options turn into. No images or sandbox needed here."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError, CnbError
from cnbsdk.lifecycle.app_source import path_filter, prepare_app
from cnbsdk.lifecycle.creator import default_cache_dir
from cnbsdk.lifecycle.project import (
    load_project,
    parse_env_assignment,
    read_env_file,
    write_platform_env,
)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    app = tmp_path / "src"
    (app / "cmd" / "tool").mkdir(parents=True)
    (app / "spec").mkdir()
    (app / "main.go").write_text("package main\n")
    (app / "cmd" / "tool" / "run.sh").write_text("#!/bin/sh\n")
    (app / "cmd" / "tool" / "run.sh").chmod(0o700)
    (app / "spec" / "main_test.go").write_text("package main\n")
    (app / "README.md").write_text("read me\n")
    (app / "link").symlink_to("README.md")
    return app


def test_directory_copied_with_symlinks_and_modes(source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    copied = prepare_app(source, dest)
    assert tree(dest) == tree(source)
    assert os.readlink(dest / "link") == "README.md"
    assert stat.S_IMODE((dest / "cmd" / "tool" / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "README.md").stat().st_mode) == 0o644
    assert copied.files == 5 and copied.skipped == 0


def test_exclude_and_include_use_gitignore_rules(source: Path, tmp_path: Path) -> None:
    excluded = tmp_path / "excluded"
    excluded.mkdir()
    prepare_app(source, excluded, keep=path_filter(exclude=["spec/", "*.md", "link"]))
    assert tree(excluded) == {"main.go", "cmd/tool/run.sh"}
    assert not (excluded / "spec").exists()  # no empty directory left behind

    included = tmp_path / "included"
    included.mkdir()
    prepare_app(source, included, keep=path_filter(include=["cmd/", "*.go", "!spec/*"]))
    assert tree(included) == {"main.go", "cmd/tool/run.sh"}


def test_include_with_exclude_is_an_error() -> None:
    with pytest.raises(BuildError, match="set include or exclude, not both"):
        path_filter(include=["a"], exclude=["b"])


def make_zip(path: Path, entries: dict[str, str], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zipped:
        for name, text in entries.items():
            zipped.writestr(name, text)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, target)
    return path


def test_jar_unpacked_as_the_app(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "app.jar",
        {"META-INF/MANIFEST.MF": "Main-Class: App\n", "App.class": "x"},
        links={"lib/current": "../App.class"},
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    unpacked = prepare_app(archive, dest)
    assert unpacked.archive
    assert tree(dest) == {"META-INF/MANIFEST.MF", "App.class", "lib/current"}
    assert os.readlink(dest / "lib" / "current") == "../App.class"


@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [
        ({"../evil": "x"}, {}, "points outside the app"),
        ({"/etc/evil": "x"}, {}, "absolute path"),
        ({}, {"up": "../../etc/passwd"}, "points outside the app"),
        ({}, {"abs": "/etc/passwd"}, "absolute target"),
    ],
)
def test_unsafe_archive_entries_are_refused(
    tmp_path: Path, entries: dict[str, str], links: dict[str, str], message: str
) -> None:
    archive = make_zip(tmp_path / "bad.zip", entries, links)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(BuildError, match=message) as raised:
        prepare_app(archive, dest)
    assert str(archive) in str(raised.value)
    assert not (tmp_path / "evil").exists()


def test_not_an_app(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BuildError, match=r"directory or a \.jar/\.zip/\.war"):
        prepare_app(tmp_path / "notes.txt", tmp_path)
    (tmp_path / "broken.zip").write_text("not a zip")
    with pytest.raises(BuildError, match="not a readable zip archive"):
        prepare_app(tmp_path / "broken.zip", tmp_path)


def test_legacy_project_toml(tmp_path: Path) -> None:
    (tmp_path / "project.toml").write_text(
        '[project]\nid = "sample"\nversion = "1.0.0"\n\n[build]\nexclude = ["*.log"]\n'
        '[[build.env]]\nname = "JAVA_OPTS"\nvalue = "-Xmx1g"\n'
    )
    warnings: list[str] = []
    project = load_project(tmp_path, inline_dir=tmp_path / "inline", log=warnings.append)
    assert project.exclude == ("*.log",)
    assert project.env == (("JAVA_OPTS", "-Xmx1g"),)
    assert any("schema 0.1" in line for line in warnings)


def test_project_group_by_relative_uri_and_missing_uri(tmp_path: Path) -> None:
    (tmp_path / "bp").mkdir()
    (tmp_path / "project.toml").write_text(
        '[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nuri = "bp"\n'
    )
    project = load_project(tmp_path, inline_dir=tmp_path / "inline")
    assert project.group[0].source == str((tmp_path / "bp").resolve())
    (tmp_path / "project.toml").write_text(
        '[_]\nschema-version = "0.2"\n[[io.buildpacks.group]]\nuri = "missing"\n'
    )
    with pytest.raises(BuildError, match="'missing' is not a directory"):
        load_project(tmp_path, inline_dir=tmp_path / "inline")


def test_project_toml_inside_a_zip(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "app.zip",
        {"project.toml": '[_]\nschema-version = "0.2"\n[io.buildpacks]\nexclude = ["x"]\n'},
    )
    assert load_project(archive, inline_dir=tmp_path / "i").exclude == ("x",)
    bad = make_zip(tmp_path / "bad.zip", {"project.toml": "[_\n"})
    with pytest.raises(CnbError) as raised:
        load_project(bad, inline_dir=tmp_path / "i")
    assert f"{bad}!/project.toml" in str(raised.value)


def test_env_options(tmp_path: Path) -> None:
    assert parse_env_assignment("A=b=c", origin="--env", environ={}) == ("A", "b=c")
    assert parse_env_assignment("HOME", origin="--env", environ={"HOME": "/h"}) == ("HOME", "/h")
    with pytest.raises(BuildError, match="not set in this environment"):
        parse_env_assignment("NOPE", origin="--env", environ={})
    with pytest.raises(BuildError, match="CNB_ prefix is reserved"):
        parse_env_assignment("CNB_APP_DIR=/x", origin="--env", environ={})
    with pytest.raises(BuildError, match="invalid environment variable name"):
        parse_env_assignment("a/b=1", origin="--env", environ={})

    env_file = tmp_path / "build.env"
    env_file.write_text("# comment\n\nONE=1\nTWO=two words\n=bad\n")
    with pytest.raises(BuildError) as raised:
        read_env_file(env_file, {})
    assert str(raised.value).startswith(f"{env_file}: line 5: invalid environment variable name")
    env_file.write_text("ONE=1\nTWO=two words\n")
    assert read_env_file(env_file, {}) == [("ONE", "1"), ("TWO", "two words")]

    written = write_platform_env(tmp_path / "platform", [("A", "1"), ("B", "x\n"), ("A", "2")])
    assert written == {"A": "2", "B": "x\n"}
    assert (tmp_path / "platform" / "env" / "B").read_bytes() == b"x\n"


@pytest.mark.parametrize("line", ["TWO = 2", "export TWO=2", "TW\tO=2"])
def test_env_file_names_with_whitespace_are_refused(tmp_path: Path, line: str) -> None:
    """Not a variable named 'TWO ' or 'export TWO' that no shell can read."""
    env_file = tmp_path / "build.env"
    env_file.write_text(f"ONE=1\n{line}\n")
    with pytest.raises(BuildError) as raised:
        read_env_file(env_file, {})
    message = str(raised.value)
    assert message.startswith(f"{env_file}: line 2: invalid environment variable name")
    assert "contains whitespace" in message and "\n" not in message


def test_default_cache_dir_is_one_per_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CNBSDK_CACHE_DIR", str(tmp_path))
    first = default_cache_dir("registry.local:5000/team/app:1")
    assert first.parent == tmp_path / "build-cache"
    assert first.name.startswith("registry.local_5000_team_app_1-")
    assert default_cache_dir("registry.local:5000/team/app:2") != first
