"""The trigger token: new at every start of ``serve`` (printed in its ``Web:`` line), or
``CNBSDK_SERVE_TOKEN`` from the environment for scripts."""

from __future__ import annotations

import os
import secrets

TOKEN_VARIABLE = "CNBSDK_SERVE_TOKEN"


def serve_token() -> str:
    return os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(24)


def token_matches(given: str | None, token: str) -> bool:
    """The token from ``Authorization: Bearer TOKEN`` is this one (constant-time compare)."""
    return bool(given) and secrets.compare_digest(str(given).encode(), token.encode())
