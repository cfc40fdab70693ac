"""Where cnbsdk keeps what it may lose: downloads, apt state, unpacked images, the launcher."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$CNBSDK_CACHE_DIR``, else ``$XDG_CACHE_HOME/cnbsdk``, else ``~/.cache/cnbsdk``."""
    explicit = os.environ.get("CNBSDK_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "cnbsdk"
