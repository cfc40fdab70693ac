"""The bad-input and fault campaign (issue #11): every input here must end in one
``error:`` line, a non-zero exit, no traceback and nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cnbsdk.cli.main import cli


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home, cache and Docker config for each case: no test reads the user's."""
    base = tmp_path / "private"
    monkeypatch.setenv("CNBSDK_HOME", str(base / "home"))
    monkeypatch.setenv("CNBSDK_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(base / "docker"))
    for name in (
        "CNB_REGISTRY_AUTH",
        "CNBSDK_INSECURE_REGISTRIES",
        "CNB_INSECURE_REGISTRIES",
        "SOURCE_DATE_EPOCH",
        "CNBSDK_REGISTRY_RETRIES",
        "CNBSDK_REGISTRY_CONNECT_TIMEOUT",
        "CNBSDK_REGISTRY_READ_TIMEOUT",
        "CNBSDK_REGISTRY_DEADLINE",
    ):
        monkeypatch.delenv(name, raising=False)
    return base


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in this process, as a user runs it (exceptions are the CLI's to render)."""
    return CliRunner().invoke(cli, list(args), env=env)


def assert_one_line_error(result: Result, *, contains: str = "") -> str:
    """Exit non-zero, no traceback, exactly one ``error:`` line (or click's usage error);
    returns the error line."""
    output = result.output
    assert result.exit_code not in (0, None), output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{output}"
    )
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(errors) == 1, output
    assert contains in errors[0], errors[0]
    return errors[0]


def listing(directory: Path) -> set[str]:
    """Every path below ``directory`` (to show nothing was left behind)."""
    return {
        os.path.relpath(os.path.join(root, name), directory)
        for root, dirs, files in os.walk(directory)
        for name in dirs + files
    }
