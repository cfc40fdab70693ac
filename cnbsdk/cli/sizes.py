"""Byte counts as the image commands print them."""

from __future__ import annotations


def human_size(size: int) -> str:
    """``532 B``, ``12.4 MiB``, ``1.2 GiB``: binary units, one decimal above bytes."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
