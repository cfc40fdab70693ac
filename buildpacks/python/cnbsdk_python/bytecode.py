"""Bytecode compiled at build time, reproducibly: hash-based ``.pyc`` files (PEP 552) hold
no timestamps, so the same sources give the same bytes (and layer digests), and the first
request does not pay for compiling.

Layers (the standard library, the venv) never change after the build: ``unchecked-hash``,
the source is not even read at import. The app's own files use ``checked-hash``: Python
compares the source's hash, so an edited file is never run from stale bytecode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError
from cnbsdk.buildpack.tools import run_tool

APP_EXCLUDE = r"(^|/)(\.git|\.venv|venv|node_modules|__pycache__)(/|$)"


def compile_tree(
    python: Path,
    directories: Sequence[Path],
    *,
    logger: Any,
    checked: bool = False,
    exclude: str = "",
    strict: bool = True,
) -> bool:
    """Byte-compile every ``.py`` below ``directories``; False when some file does not
    compile (a syntax error in an app file is the app's business, not the build's)."""
    mode = "checked-hash" if checked else "unchecked-hash"
    args: list[str | Path] = [python, "-m", "compileall", "-q", "-f", "-j", "0"]
    args += ["--invalidation-mode", mode]
    if exclude:
        args += ["-x", exclude]
    try:
        run_tool([*args, *directories], logger=logger, quiet=True, env={"PATH": "/usr/bin:/bin"})
    except BuildpackError:
        if strict:
            raise
        return False
    return True
