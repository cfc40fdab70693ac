"""docs/tutorial.md cannot rot: its files are the example's files, its commands run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnbsdk.cache_dir import cache_root

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
TITLE = re.compile(r'title="(?P<path>[^"]+)"')


def code_blocks() -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, in order."""
    return [(m["info"], m["body"]) for m in FENCE.finditer(TUTORIAL.read_text())]


def titled_blocks() -> dict[str, str]:
    return {TITLE.search(info)["path"]: body for info, body in code_blocks() if TITLE.search(info)}


def test_every_file_of_the_example_package_is_shown() -> None:
    shown = set(titled_blocks())
    example = REPO / "examples" / "hello-buildpack"
    files = {
        str(p.relative_to(REPO))
        for p in example.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    }
    assert files == shown


@pytest.mark.parametrize("path", sorted(titled_blocks()))
def test_a_code_block_is_exactly_the_example_file(path: str) -> None:
    assert titled_blocks()[path] == (REPO / path).read_text()


def tutorial_script() -> str:
    """The tutorial's shell blocks, in order, as one script."""
    blocks = [body for info, body in code_blocks() if info.strip() == "sh"]
    return "set -euo pipefail\n" + "\n".join(blocks)


@pytest.mark.slow
def test_following_the_tutorial_in_a_fresh_venv_works(tmp_path: Path) -> None:
    """Runs every shell block verbatim, from the checkout root, with HOME in a tmp dir."""
    base_python = Path(getattr(sys, "_base_executable", sys.executable)).parent
    env = {
        "HOME": str(tmp_path),
        "PATH": f"{base_python}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    # The Debian packages of the default stack come from the machine's cnbsdk cache.
    env["CNBSDK_CACHE_DIR"] = str(cache_root())
    for name in ("PIP_FIND_LINKS", "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_INDEX_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    completed = subprocess.run(
        ["bash", "-c", tutorial_script()],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "9 passed" in output
    assert "Successfully built image 'hello-app'" in output
    assert "Reusing layer 'hello' (version 1.0.0 unchanged)" in output
    assert "Reusing layer 'examples/hello:hello'" in output
    assert re.search(r"^    hello\s+sha256:", completed.stdout, re.MULTILINE)  # cnbsdk inspect
    assert re.search(r"^examples/hello\s+0\.1\.0\s+0\.10\s", completed.stdout, re.MULTILINE)
    assert "packaged examples/hello 0.1.0" in output
    assert 'command = [\n    "hello",\n]' in completed.stdout
    assert "Hello, world!\nThis app was built by your first buildpack.\n" in completed.stdout
