"""The byte counts `copy`, `images` and `inspect` print."""

from __future__ import annotations

import pytest

from cnbsdk.cli.sizes import human_size


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (13 * 1024**2 - 1, "13.0 MiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**4, "3072.0 GiB"),
    ],
)
def test_sizes_use_binary_units_with_one_decimal(size: int, shown: str) -> None:
    assert human_size(size) == shown
