"""The one small hierarchy of errors cnbsdk raises.

Every error carries what a user needs to fix it: the file, the field and what went
wrong. ``str(error)`` is a single line; the CLI prints it as ``error: <line>``.
"""

from __future__ import annotations

import re
import threading


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
        return redact(" ".join(line.split("\n")))


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


# -- credentials never shown -------------------------------------------------------------------
# Whatever a message quotes (a registry's error body echoing a request, a URL, a config file),
# what looks like a credential is replaced before it is printed or logged.
REDACTED = "<redacted>"
_SECRET_PATTERNS = (
    # Authorization: Basic xxx / Proxy-Authorization: Bearer xxx (a header as text or JSON)
    re.compile(
        r"""((?:proxy-)?authorization["']?\s*[:=]\s*["']?\[?["']?)"""
        r"""(?:(?:basic|bearer|token|digest)\s+)?[^\s"',\]})]+""",
        re.IGNORECASE,
    ),
    # a scheme and its credential anywhere
    # (a word of lowercase letters only, as in "Bearer challenge", is prose, not a secret)
    re.compile(r"\b((?i:basic|bearer)\s+)(?=[a-z]*[A-Z0-9._~+/=-])[A-Za-z0-9._~+/=-]{4,}"),
    # "password": "..." (JSON: a config file, a token reply) and token=... (query strings)
    re.compile(
        r"""("(?:password|passwd|secret|token|access_token|refresh_token|identitytoken|"""
        r"""registrytoken|auth|api[_-]?key)"\s*:\s*")[^"]*""",
        re.IGNORECASE,
    ),
    re.compile(
        r"""(\b(?:password|passwd|secret|token|access_token|refresh_token|identitytoken|"""
        r"""registrytoken|auth|api[_-]?key)=)[^\s"'&,;)]+""",
        re.IGNORECASE,
    ),
    # https://user:password@host
    re.compile(r"(://)[^/\s:@]+:[^/\s@]+(?=@)"),
)
_known_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(*values: str) -> None:
    """Remember credentials as they are loaded, so their exact text is redacted anywhere
    (a password in a URL, a token echoed without its scheme)."""
    with _secrets_lock:
        _known_secrets.update(v for v in values if v and len(v) >= 4)


def redact(text: str) -> str:
    """``text`` with anything that looks like a credential, and every registered secret,
    replaced by ``<redacted>``."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    with _secrets_lock:
        secrets = sorted(_known_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text
