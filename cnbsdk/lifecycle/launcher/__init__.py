"""The in-image launcher: ``launcher.c`` compiled once per source into the cache.

The launcher runs inside app images whose run image has no Python, so it is a small static C
program (docs/launcher.md). ``launcher_path()`` builds it with the system C compiler the first
time a given source is needed and returns the cached binary that the exporter puts at
``/cnb/lifecycle/launcher``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.workspace import PLATFORM_API

LAUNCHER_VERSION = "0.1.0"
SOURCE = Path(__file__).with_name("launcher.c")

_INSTALL_HINT = "install gcc and libc6-dev (scripts/setup does), or set CC"


def _flags() -> list[str]:
    return [
        "-O2",
        "-s",
        f'-DCNBSDK_LAUNCHER_VERSION="{LAUNCHER_VERSION}"',
        f'-DDEFAULT_PLATFORM_API="{PLATFORM_API}"',
    ]


def _cache_key(source: bytes) -> str:
    digest = hashlib.sha256(source)
    digest.update("\0".join(_flags()).encode())
    return digest.hexdigest()


def _compiler() -> str:
    compiler = os.environ.get("CC") or "cc"
    found = shutil.which(compiler)
    if not found:
        raise BuildError(
            f"no C compiler {compiler!r} to build the launcher",
            file=str(SOURCE),
            hint=_INSTALL_HINT,
        )
    return found


def _compile(compiler: str, output: Path, *, static: bool) -> subprocess.CompletedProcess[str]:
    argv = [compiler, *_flags(), *(["-static"] if static else []), "-o", str(output), str(SOURCE)]
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def launcher_path(
    log: Callable[[str], None] | None = None, *, cache_dir: Path | None = None
) -> Path:
    """The launcher binary for the current ``launcher.c``, compiled on first use.

    It is kept in ``<cache_dir or cache_root()>/launcher/<sha256 of source and flags>/``.
    Static linking is preferred (the binary then runs on any glibc or musl run image); when
    the static C library is missing it links dynamically and says so through ``log``.
    """
    source = SOURCE.read_bytes()
    target_dir = (cache_dir or cache_root()) / "launcher" / _cache_key(source)
    target = target_dir / "launcher"
    if target.is_file():
        return target
    compiler = _compiler()
    target_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".build-") as scratch:
        built = Path(scratch) / "launcher"
        result = _compile(compiler, built, static=True)
        if result.returncode != 0:
            dynamic = _compile(compiler, built, static=False)
            if dynamic.returncode != 0:
                message = (dynamic.stderr or result.stderr).strip().splitlines()
                raise BuildError(
                    f"compiling the launcher failed: {message[-1] if message else 'no output'}",
                    file=str(SOURCE),
                    hint=_INSTALL_HINT,
                )
            if log:
                log(
                    "launcher: static C library not found (install libc6-dev); linked "
                    "dynamically, so the run image needs a compatible glibc"
                )
        built.chmod(0o755)
        os.replace(built, target)
    return target


__all__ = ["LAUNCHER_VERSION", "launcher_path"]
