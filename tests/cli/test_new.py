"""``cnbsdk new buildpack``: a plugin distribution that passes its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def new(*args: str) -> object:
    return CliRunner().invoke(cli, ["new", "buildpack", *args])


def test_scaffolds_pyproject_package_and_tests(tmp_path: Path) -> None:
    result = new(str(tmp_path / "my-buildpack"), "--id", "example/my")
    assert result.exit_code == 0, result.output
    root = tmp_path / "my-buildpack"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "README.md",
        "my_buildpack/__init__.py",
        "my_buildpack/buildpack.toml",
        "pyproject.toml",
        "tests/test_buildpack.py",
        "tests/test_image.py",
    ]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["cnbsdk"] == {"my-buildpack": "my_buildpack"}
    descriptor = tomllib.loads((root / "my_buildpack" / "buildpack.toml").read_text())
    assert descriptor["buildpack"]["id"] == "example/my"
    assert descriptor["api"] == "0.10"


def test_the_scaffold_passes_its_own_tests_and_packages(tmp_path: Path) -> None:
    root = tmp_path / "scaffolded"
    assert new(str(root), "--id", "example/scaffolded").exit_code == 0
    # What `pip install -e DIR` provides: the package importable (the fixtures load it by ref).
    completed = subprocess.run(
        # The unit tests: tests/test_image.py needs the project installed (the slow test).
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_buildpack.py"],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "6 passed" in completed.stdout


@pytest.mark.slow
def test_the_scaffold_passes_its_own_tests_after_pip_install_in_a_fresh_venv(
    tmp_path: Path,
) -> None:
    root = tmp_path / "fresh-bp"
    assert new(str(root), "--id", "example/fresh").exit_code == 0
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "-e", str(REPO), "-e", f"{root}[test]"], check=True)
    completed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        capture_output=True,
        text=True,
        cwd=root,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "9 passed" in completed.stdout  # the unit tests and the whole-image tests
    listed = subprocess.run(
        [str(venv / "bin" / "cnbsdk"), "buildpacks"], capture_output=True, text=True, check=True
    )
    assert "example/fresh" in listed.stdout


def test_a_relative_directory_is_created_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = new("relative-bp", "--id", "example/relative")
    assert result.exit_code == 0, result.output
    assert "  relative_bp/buildpack.toml\n" in result.output
    assert (tmp_path / "relative-bp" / "relative_bp" / "buildpack.toml").is_file()


def test_a_directory_named_like_a_keyword_needs_a_package_name(tmp_path: Path) -> None:
    result = new(str(tmp_path / "class"), "--id", "a/b")
    assert result.exit_code == 1
    assert (
        result.output
        == "error: cannot make a Python package name from 'class' (pass --package NAME)\n"
    )
    assert not (tmp_path / "class").exists()


def test_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    result = new(str(tmp_path / "taken"), "--id", "example/x")
    assert result.exit_code == 1
    assert (
        result.output
        == f"error: {tmp_path / 'taken'}: already exists and is not an empty directory\n"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--id", "app"], "reserved"),
        (["--id", "bad id"], "invalid buildpack id"),
        (["--id", "a/b", "--api", "0.3"], "unsupported Buildpack API"),
        (["--id", "a/b", "--api", "0.9"], "unsupported Buildpack API 0.9 for a Python plugin"),
        (["--id", "a/b", "--package", "not-a-name"], "not-a-name"),
        (["--id", "a/b", "--package", "class"], "'class' is not a valid Python package name"),
    ],
)
def test_bad_names_are_one_line_and_write_nothing(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = new(str(tmp_path / "bp"), *args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and expected in result.output
    assert len(result.output.splitlines()) == 1
    assert not (tmp_path / "bp").exists()
