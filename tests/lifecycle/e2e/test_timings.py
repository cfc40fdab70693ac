"""The timing summary of ``cnbsdk build``: every second of the build is on a line, so the
lines add up to the total it prints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.lifecycle.e2e.conftest import build_args, cnbsdk

pytestmark = pytest.mark.usefixtures("e2e_home")


def test_the_timing_lines_add_up_to_the_total(hello_app: Path, out: Path) -> None:
    result = cnbsdk(*build_args(hello_app, f"oci:{out}/layout:app", out / "cache", "hello"))
    assert result.exit_code == 0, result.output

    summary = result.output.split("Timings (", 1)[1]
    total = float(re.match(r"([0-9.]+)s in all\):", summary).group(1))
    lines = dict(re.findall(r"^  ([a-z ]+?) +([0-9.]+)s$", summary, re.MULTILINE))
    assert list(lines) == [
        "preparing",
        "analyzing",
        "detecting",
        "restoring",
        "building",
        "exporting",
        "cleaning up",
    ]
    # each line is rounded to 0.01 s and the total to 0.1 s
    assert abs(sum(float(v) for v in lines.values()) - total) <= 0.05 + 0.005 * len(lines)
