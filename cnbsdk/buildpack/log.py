"""The one build-log style every cnbsdk buildpack shares.

Indentation carries the structure (title at column 0, process 2, subprocess 4, action 6,
detail 8, subdetail 10) and the standard phrases are methods, so forty buildpacks read
alike and tests can assert on exact lines. ``BP_LOG_LEVEL=DEBUG`` shows debug lines.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TextIO

TITLE, PROCESS, SUBPROCESS, ACTION, DETAIL, SUBDETAIL = 0, 2, 4, 6, 8, 10


class Logger:
    """Writes indented build-log lines to stdout (or ``stream``)."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        stream: TextIO | None = None,
        debug: bool | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._stream = stream
        self.debug_enabled = (
            debug if debug is not None else env.get("BP_LOG_LEVEL", "").upper() == "DEBUG"
        )

    @property
    def stream(self) -> TextIO:
        # Resolved on every write so that redirected sys.stdout (tests, capsys) is honoured.
        return self._stream if self._stream is not None else sys.stdout

    # -- levels -------------------------------------------------------------------------

    def line(self, indent: int, text: str = "") -> None:
        """Write ``text`` with every one of its lines indented by ``indent`` spaces."""
        pad = " " * indent
        for part in text.split("\n") if text else [""]:
            self.stream.write(f"{pad}{part}".rstrip() + "\n")
        self.stream.flush()

    def title(self, text: str) -> None:
        self.line(TITLE, text)

    def process(self, text: str) -> None:
        self.line(PROCESS, text)

    def subprocess(self, text: str) -> None:
        self.line(SUBPROCESS, text)

    def action(self, text: str) -> None:
        self.line(ACTION, text)

    def detail(self, text: str) -> None:
        self.line(DETAIL, text)

    def subdetail(self, text: str) -> None:
        self.line(SUBDETAIL, text)

    def blank(self) -> None:
        self.line(TITLE)

    def debug(self, text: str, indent: int = PROCESS) -> None:
        """A line shown only with ``BP_LOG_LEVEL=DEBUG``."""
        if self.debug_enabled:
            self.line(indent, text)

    def warning(self, text: str, indent: int = PROCESS) -> None:
        self.line(indent, f"Warning: {text}")

    # -- standard phrases -----------------------------------------------------------------

    def buildpack_title(self, name: str, version: str) -> None:
        """``<name> <version>`` at column 0: the first line of every build."""
        self.title(f"{name} {version}")

    def reusing_layer(self, layer: str, cause: str) -> None:
        suffix = f" ({cause})" if cause else ""
        self.process(f"Reusing layer '{layer}'{suffix}")

    def rebuilding_layer(self, layer: str, cause: str) -> None:
        suffix = f": {cause}" if cause else ""
        self.process(f"Rebuilding layer '{layer}'{suffix}")

    def creating_layer(self, layer: str) -> None:
        self.process(f"Creating layer '{layer}'")

    def selected_dependency(self, name: str, version: str, source: str = "") -> None:
        """``Selected Node Engine version (using package.json): 18.1.0``."""
        using = f" (using {source})" if source else ""
        self.process(f"Selected {name} version{using}: {version}")

    def candidates(self, entries: Sequence[tuple[str, str]]) -> None:
        """The version sources considered, in priority order, e.g. ``BP_NODE_VERSION -> "~18"``."""
        self.process("Candidate version sources (in priority order):")
        width = max((len(source) for source, _ in entries), default=0)
        for source, constraint in entries:
            self.subprocess(f'{source.ljust(width)} -> "{constraint}"')

    def env_vars(self, title: str, variables: Mapping[str, str]) -> None:
        """``Configuring launch environment`` and aligned ``NAME -> "value"`` lines."""
        self.process(title)
        width = max((len(name) for name in variables), default=0)
        for name, value in variables.items():
            self.subprocess(f'{name.ljust(width)} -> "{value}"')

    def launch_processes(self, processes: Iterable[LoggableProcess]) -> None:
        """``Assigning launch processes:`` then ``web (default): cmd args``."""
        listed = list(processes)
        if not listed:
            return
        self.process("Assigning launch processes:")
        for proc in listed:
            marker = " (default)" if proc.default else ""
            words = " ".join([*proc.command, *proc.args])
            self.subprocess(f"{proc.type}{marker}: {words}")

    def table(self, rows: Sequence[Sequence[str]], indent: int = SUBPROCESS) -> None:
        """Rows of cells in aligned columns, two spaces apart."""
        if not rows:
            return
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
            self.line(indent, "  ".join(cells))


class LoggableProcess(Protocol):
    """The process fields the log prints."""

    @property
    def type(self) -> str: ...
    @property
    def command(self) -> Sequence[str]: ...
    @property
    def args(self) -> Sequence[str]: ...
    @property
    def default(self) -> bool: ...
