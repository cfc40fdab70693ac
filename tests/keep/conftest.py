"""Each keep test gets its own CNBSDK_HOME (so its own store)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("CNBSDK_HOME", str(path))
    return path
