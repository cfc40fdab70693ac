"""Reading and writing TOML: stdlib ``tomllib`` in, ``tomli_w`` out, atomic writes."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

import tomli_w

from cnbsdk.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 in old build images
    import tomli as tomllib


# Limits on what a TOML file may be: no CNB file comes near them, and past them tomllib
# recurses (arrays or tables thousands deep) or Python refuses the int-string conversion.
MAX_TOML_BYTES = 16 * 1024 * 1024
MAX_TOML_DEPTH = 100


def parse_toml(text: str, *, file: str) -> dict[str, Any]:
    """Parse TOML text; a syntax error, a file too large or nested too deep, or an integer
    too long becomes a one-line SpecError naming the file."""
    if len(text) > MAX_TOML_BYTES:
        raise SpecError(f"larger than {MAX_TOML_BYTES} bytes", file=file)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"invalid TOML: {error}", file=file) from None
    except RecursionError:
        raise SpecError(
            f"invalid TOML: nested more than {MAX_TOML_DEPTH} levels deep", file=file
        ) from None
    except (ValueError, MemoryError) as error:
        # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        reason = str(error).split(";")[0] or type(error).__name__
        raise SpecError(f"invalid TOML: {reason}", file=file) from None
    if nesting_depth(data) > MAX_TOML_DEPTH:
        raise SpecError(f"invalid TOML: nested more than {MAX_TOML_DEPTH} levels deep", file=file)
    return data


def nesting_depth(data: object) -> int:
    """How deep tables and arrays nest in parsed data (TOML or JSON), walked without
    recursion; counting stops past MAX_TOML_DEPTH."""
    deepest = 0
    pending: list[tuple[object, int]] = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            children: list[object] = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_TOML_DEPTH:
            pending.extend((child, depth + 1) for child in children)
    return deepest


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and parse a TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("file not found", file=str(path)) from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", file=str(path)) from None
    return parse_toml(text, file=str(path))


def dump_toml(data: dict[str, Any]) -> str:
    """Serialise a dict as TOML 1.0."""
    return tomli_w.dumps(data)


def write_atomic(path: str | os.PathLike[str], content: str | bytes, mode: int = 0o644) -> None:
    """Write a file so that readers see the old content or the new one, never a part."""
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_if_changed(path: str | os.PathLike[str], content: str | bytes, mode: int = 0o644) -> bool:
    """``write_atomic`` unless the file already holds ``content`` with ``mode``; returns
    whether it wrote. A file left alone keeps its inode and times, so the lifecycle still
    knows its layer unchanged and does not tar it again."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        info = os.lstat(path)
        if (
            stat.S_ISREG(info.st_mode)
            and stat.S_IMODE(info.st_mode) == mode
            and info.st_size == len(data)
            and Path(path).read_bytes() == data
        ):
            return False
    except OSError:
        pass
    write_atomic(path, data, mode)
    return True


def write_toml(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write a dict as a TOML file atomically."""
    write_atomic(path, dump_toml(data))
