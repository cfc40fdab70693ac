"""docs/testing.md's complete example runs and passes, as an author would run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnbsdk.cache_dir import cache_root
from cnbsdk.oci.store import cnbsdk_home

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
EXAMPLE = re.compile(r'^```python title="tests/test_image.py"\n(?P<body>.*?)^```$', re.S | re.M)
STORE_AND_CACHE = {"CNBSDK_HOME": str(cnbsdk_home()), "CNBSDK_CACHE_DIR": str(cache_root())}


def test_the_complete_example_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in STORE_AND_CACHE.items():
        monkeypatch.setenv(name, value)
    match = EXAMPLE.search(DOC.read_text())
    assert match is not None
    pytester.makepyfile(test_image=match["body"])
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
