"""Bytecode of packaged Python buildpacks, compiled once and kept outside the buildpack.

A packaged buildpack carries no ``__pycache__`` (its directory is read-only on a builder), so
each of its ``bin/detect`` and ``bin/build`` compiled the vendored runtime from source:
~40 ms of every sandboxed phase. For a buildpack whose entry script understands
``CNBSDK_BYTECODE_CACHE`` (``distribution/buildpack_dir.py``), cnbsdk compiles ``lib/`` once
per build image and content into ``cache_root()/bytecode/<image>/<key>`` and binds that
directory **read-only** into the sandbox at ``INNER_PATH``; the entry script reads
``lib/a/__pycache__/b.pyc`` from there (and removes the variable before the buildpack's code
runs). The buildpack directory itself is unchanged.

Correctness: the key is a digest of ``lib/``'s Python sources, so a changed buildpack gets
another directory; Python still checks each file's recorded source mtime and size, and
falls back to compiling from source (as before) on any mismatch. Safety: the compiling run
executes no buildpack code (``py_compile`` only), in a sandbox where only the new directory
is writable and there is no network; builds only ever read the cache, so nothing an app's
build runs can reach another build through it. Directories are compiled beside their place
and renamed in under a per-key lock, so parallel builds never see half a directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cnbsdk.cache_dir import cache_root
from cnbsdk.lifecycle.file_lock import locked

ENV_NAME = "CNBSDK_BYTECODE_CACHE"
INNER_PATH = "/tmp/.cnbsdk-bytecode"
COMPILE_TIMEOUT = 120

# Run by the build image's python3 with only the output directory writable: compiles every
# .py under lib/ to OUT/<dir>/__pycache__/<name>.<tag>.pyc, validated by source mtime and size
# as Python's own; a file that does not compile is left to fail when imported.
_COMPILE = """
import os, sys, importlib.util, py_compile
lib, out = sys.argv[1], sys.argv[2]
for directory, dirs, files in os.walk(lib):
    dirs[:] = [d for d in dirs if d != "__pycache__"]
    for name in files:
        if not name.endswith(".py"):
            continue
        source = os.path.join(directory, name)
        target = os.path.join(out, os.path.relpath(importlib.util.cache_from_source(source), lib))
        try:
            py_compile.compile(source, cfile=target, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
        except (py_compile.PyCompileError, OSError):
            pass
"""


def understands_cache(buildpack_dir: Path) -> bool:
    """Whether the buildpack's ``bin/detect`` is a cnbsdk entry script that reads the cache."""
    try:
        with open(buildpack_dir / "bin" / "detect", "rb") as script:
            head = script.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and ENV_NAME.encode() in head


def lib_key(buildpack_dir: Path) -> str:
    """A digest of every ``.py`` file under ``lib/`` (path and content)."""
    digest = hashlib.sha256()
    lib = buildpack_dir / "lib"
    for directory, dirs, files in os.walk(lib):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = Path(directory, name)
                digest.update(os.fsencode(path.relative_to(lib)) + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def compiled_lib(
    rootfs: Path, bwrap: str, buildpack_dir: Path, *, key: str = "", cache_dir: Path | None = None
) -> Path | None:
    """The directory holding ``buildpack_dir/lib``'s bytecode for the image at ``rootfs``,
    compiled now if this image and content have none yet; None when it cannot be made (the
    buildpack then compiles from source, as without a cache). ``key`` is a digest of the
    buildpack's content when the caller knows one, else ``lib/`` is digested."""
    base = (cache_dir if cache_dir is not None else cache_root() / "bytecode") / rootfs.name
    final = base / (key or lib_key(buildpack_dir))
    if final.is_dir():
        return final
    try:
        base.mkdir(parents=True, exist_ok=True)
        with locked(base / f"{final.name}.lock"):
            if not final.is_dir():
                _compile(rootfs, bwrap, buildpack_dir / "lib", final)
    except (OSError, subprocess.SubprocessError):
        return None
    return final if final.is_dir() else None


def _compile(rootfs: Path, bwrap: str, lib: Path, final: Path) -> None:
    for stale in final.parent.glob(f".{final.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        subprocess.run(
            [
                bwrap, "--ro-bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev",
                "--tmpfs", "/tmp", "--ro-bind", str(lib), "/tmp/lib",
                "--bind", str(partial), "/tmp/out",
                "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin",
                "--", "python3", "-I", "-S", "-c", _COMPILE, "/tmp/lib", "/tmp/out",
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=COMPILE_TIMEOUT,
            check=False,
        )  # fmt: skip
        # A failure (no python3 in the image) leaves the directory empty or partial: a
        # missing file is compiled from source when imported, so it is kept all the same.
        partial.chmod(0o755)
        os.rename(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
