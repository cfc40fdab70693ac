"""The default stack follows the distribution: a shipped lock that went stale (a pin Debian
no longer serves) never breaks the first build. Against today's archive, without asserting
any of its versions. Starts: apt-get (isolated).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_shipped_stack

from cnbsdk.lifecycle.default_stack import (
    DEFAULT_BUILD_IMAGE,
    DEFAULT_RUN_IMAGE,
    default_lock_file,
    default_stack,
)
from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.stacks.lock import LOCK_LABEL, StackLock


def test_a_stale_shipped_lock_still_gives_the_default_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNBSDK_HOME", str(tmp_path / "home"))
    stack_file = copy_shipped_stack(tmp_path)
    lock_file = tmp_path / "stack.lock"
    shipped = StackLock.read(lock_file)
    first = shipped.packages[0]  # sorted by name: the log line names it first
    text = lock_file.read_text()
    pin = f'name = "{first.name}"\nversion = "{first.version}"'
    assert pin in text
    lock_file.write_text(
        text.replace(pin, f'name = "{first.name}"\nversion = "0.0-gone"').replace(
            first.sha256, "0" * 64
        )
    )

    lines: list[str] = []
    stack = default_stack(log=lines.append, stack_file=stack_file)

    assert stack.created
    replaced = [line for line in lines if "since the shipped lock" in line]
    assert len(replaced) == 1, lines
    assert replaced[0].startswith("Debian replaced ")
    assert f"({first.name} 0.0-gone → " in replaced[0]
    used = StackLock.read(default_lock_file())
    assert used.by_name()[first.name].version not in ("0.0-gone", "")
    for ref in (DEFAULT_BUILD_IMAGE, DEFAULT_RUN_IMAGE):
        _resolved, config = read_manifest_and_config(ref)
        assert used.digest() in config.labels[LOCK_LABEL]
