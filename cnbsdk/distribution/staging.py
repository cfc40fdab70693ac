"""Build an output directory beside its final place and move it there only when complete."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnbsdk.errors import PackageError


def check_output_dir(output: Path, *, force: bool) -> None:
    """Refuse an output path that holds something, unless ``force`` allows replacing it."""
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        raise PackageError("exists and is not a directory", file=str(output))
    if output.is_dir() and any(output.iterdir()) and not force:
        raise PackageError(
            "output directory is not empty", file=str(output), hint="use --force to replace it"
        )


@contextlib.contextmanager
def staged_dir(output: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory next to ``output``; on success rename it to ``output``.

    On any error the temporary directory is removed and ``output`` is left as it was, so a
    failed packaging never leaves a half-written buildpack behind.
    """
    output = Path(os.path.abspath(output))
    check_output_dir(output, force=force)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(
            tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
        )
    except OSError as error:
        raise unwritable_output(output, error) from None
    try:
        yield stage
        stage.chmod(0o755)
        _replace_dir(stage, output)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def unwritable_output(output: Path, error: OSError) -> PackageError:
    """The error for an output that cannot be created, naming the path the user gave (not
    the temporary sibling the OSError names) and, when a parent is a file, that parent."""
    for parent in output.parents:
        if parent.is_symlink() or parent.exists():
            if not parent.is_dir():
                return PackageError(
                    f"cannot create it: {parent} is not a directory", file=str(output)
                )
            break
    return PackageError(f"cannot create it: {error.strerror or error}", file=str(output))


def _replace_dir(stage: Path, output: Path) -> None:
    if output.is_dir() and any(output.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".old", dir=output.parent))
        os.replace(output, old / "previous")
        os.replace(stage, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        # rename(2) replaces an empty directory in one step.
        os.replace(stage, output)
