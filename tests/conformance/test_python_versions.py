"""The packaged scripts need python3 >= 3.10 and nothing else; older ones get one line.

Runs the packaged buildpack with every CPython found on this machine as ``python3`` on PATH
(Debian's and pyenv's), so Python 3.10 (tomli instead of tomllib) and the newest both run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

CANDIDATES = sorted(
    {
        *Path("/usr/bin").glob("python3.[0-9]*"),
        *Path("/root/.pyenv/versions").glob("*/bin/python[23].[0-9]*"),
    }
)


def interpreters() -> list[tuple[Path, tuple[int, int]]]:
    found = {}
    for path in CANDIDATES:
        if not re.fullmatch(r"python\d\.\d+", path.name) or not path.is_file():
            continue
        completed = subprocess.run(
            [str(path), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode == 0:
            major, minor = completed.stdout.strip().split(".")
            found.setdefault((int(major), int(minor)), path)
    return [(path, version) for version, path in sorted(found.items())]


@pytest.mark.parametrize(
    ("python", "version"),
    [pytest.param(p, v, id=f"python{v[0]}.{v[1]}") for p, v in interpreters()],
)
def test_bin_detect_and_build_run_on_python_3_10_and_newer_and_refuse_older(
    lifecycle, tmp_path: Path, python: Path, version: tuple[int, int]
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python3").symlink_to(python)
    lifecycle.path = f"{shim}:/usr/bin:/bin"
    detect = lifecycle.detect({"detect": {"provides": ["a"], "requires": [{"name": "a"}]}})
    build = lifecycle.build(
        {"build": {"processes": [{"type": "web", "command": ["a"]}]}},
        plan='[[entries]]\nname = "a"\n',
    )
    if version >= (3, 10):
        assert (detect.exit_code, build.exit_code) == (0, 0), detect.stderr + build.stderr
        assert (build.layers / "launch.toml").is_file()
    else:
        found = f"{version[0]}.{version[1]}"
        expected = f"error: conformance/everything needs python3 >= 3.10, found {found}\n"
        assert (detect.exit_code, detect.stderr) == (1, expected)
        assert (build.exit_code, build.stderr) == (1, expected)
