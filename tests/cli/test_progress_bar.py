"""Progress on a log (stderr not a terminal): plain lines for a long task, nothing for a short
one, so the first build's stack creation is never ~20 s of silence."""

from __future__ import annotations

import pytest

from cnbsdk.cli import progress_bar
from cnbsdk.cli.progress_bar import terminal_progress, terminal_progress_with_summary


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(progress_bar.time, "monotonic", clock)
    return clock


def test_a_long_task_prints_percent_lines_and_done(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    task = terminal_progress("Downloading 120 packages", 1000)
    task.advance(100)  # 0 s: quiet so far
    clock.now += 3
    task.advance(200)  # 3 s: the first line
    clock.now += 1
    task.advance(100)  # 4 s: too soon for another
    clock.now += 5
    task.advance(600)  # 9 s
    task.finish()
    assert capsys.readouterr().err == (
        "Downloading 120 packages: 30% (3s)\n"
        "Downloading 120 packages: 100% (9s)\n"
        "Downloading 120 packages: done in 9.0s\n"
    )


def test_a_short_task_prints_nothing(clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    task = terminal_progress("Exporting", 10)
    task.advance(10)
    clock.now += 1
    task.finish()
    assert capsys.readouterr().err == ""


def test_with_summary_every_finished_task_says_done(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    task = terminal_progress_with_summary("Writing run image layers", 4)
    clock.now += 1
    task.finish()
    assert capsys.readouterr().err == "Writing run image layers: done in 1.0s\n"
