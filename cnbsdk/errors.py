"""The one small hierarchy of errors cnbsdk raises.

Every error carries what a user needs to fix it: the file, the field and what went
wrong. ``str(error)`` is a single line; the CLI prints it as ``error: <line>``.
"""

from __future__ import annotations


class CnbError(Exception):
    """Base of every error cnbsdk raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.field) if part)
        line = f"{where}: {self.message}" if where else self.message
        if self.hint:
            line = f"{line} ({self.hint})"
        return " ".join(line.split("\n"))


class SpecError(CnbError):
    """A CNB file or value does not follow the spec (bad TOML, bad id, unknown api...)."""


class BuildpackError(CnbError):
    """A buildpack (or its author's code) failed while detecting or building."""


class DependencyError(CnbError):
    """A buildpack dependency could not be resolved, downloaded or verified."""


class ImageError(CnbError):
    """An image, image reference, layout or archive is missing or malformed."""


class ExtractionError(ImageError):
    """A tar entry was refused because extracting it would be unsafe."""


class RegistryError(ImageError):
    """A registry refused or failed a request."""


class StackError(CnbError):
    """A stack (build and run base images) could not be defined or created."""


class BuildError(CnbError):
    """The lifecycle (detect, restore, build, export) failed."""


class PackageError(CnbError):
    """A buildpackage or builder could not be packaged."""
