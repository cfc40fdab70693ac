"""Which process runs a build, told apart from a later one that got the same pid: a build
records its pid and the kernel's start time of that process (``/proc/<pid>/stat``)."""

from __future__ import annotations

from pathlib import Path


def process_start(pid: int) -> str:
    """The start time (clock ticks since boot) of ``pid``; '' when it is not running."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 2 (the command) may hold spaces and parentheses: split after its last ')'.
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def alive(pid: int, start: str) -> bool:
    return pid > 0 and bool(start) and process_start(pid) == start
