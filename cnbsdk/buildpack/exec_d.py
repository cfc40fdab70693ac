"""exec.d programs (buildpack.md §Exec.d): run by the launcher before the app process.

A layer's ``exec.d/<name>`` (or ``exec.d/<process>/<name>``) program runs at launch in the
app's env and prints TOML (``NAME = "value"``, top-level strings only) to file descriptor 3;
the launcher sets those variables, overriding what was there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cnbsdk.errors import BuildpackError
from cnbsdk.spec.exec_d import ExecDOutput
from cnbsdk.spec.ids import ProcessType
from cnbsdk.spec.toml_file import write_if_changed

EXEC_D_FD = 3


def install_exec_d_program(
    layer_path: Path, name: str, program: Path, *, process: str | None = None
) -> Path:
    """Copy ``program`` to ``<layer>/exec.d/[<process>/]<name>`` and make it executable."""
    if not Path(program).is_file():
        raise BuildpackError(f"exec.d program {name!r}: no file at {program}")
    return write_exec_d_program(layer_path, name, Path(program).read_bytes(), process=process)


def write_exec_d_program(
    layer_path: Path, name: str, content: bytes, *, process: str | None = None
) -> Path:
    """Write ``content`` as the executable ``<layer>/exec.d/[<process>/]<name>``; left alone
    when it already holds that (a reused layer stays untouched, so it is not tarred again)."""
    if not name or "/" in name or name in {".", ".."}:
        raise BuildpackError(f"invalid exec.d program name {name!r}")
    directory = layer_path / "exec.d"
    if process is not None:
        directory = directory / ProcessType(process)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    write_if_changed(target, content, 0o755)
    return target


def write_exec_d_output(env: Mapping[str, str], fd: int = EXEC_D_FD) -> None:
    """For exec.d programs written in Python: report ``env`` to the launcher on fd 3."""
    # from_dict checks what the launcher will: bare-key names and string values.
    text = ExecDOutput.from_dict(dict(env), file="exec.d output").to_toml()
    data = text.encode("utf-8")
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except OSError as error:
        raise BuildpackError(
            f"cannot write exec.d output to file descriptor {fd}: {error.strerror}",
            hint="exec.d programs are run by the launcher, which opens fd 3",
        ) from None
