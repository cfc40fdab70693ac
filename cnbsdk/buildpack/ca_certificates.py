"""Certificate authorities a build trusts besides the system's: the ``ca-certificates``
bindings (Paketo's type; ``cnbsdk build`` provides one with the host's local CAs).

``cnbsdk.deps`` downloads trust them by themselves; tools a buildpack runs need them spelled
out — ``NODE_EXTRA_CA_CERTS``, ``PIP_CERT``, a JVM trust store — and ``extra_ca_bundle``
gives the one PEM file they take.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from cnbsdk.deps.mirrors import ca_certificate_files


def extra_ca_bundle(context: Any) -> Path | None:
    """One PEM file holding every certificate of the build's ``ca-certificates`` bindings
    (in a temporary directory, never in a layer), or None when there are none."""
    files = ca_certificate_files(getattr(context, "bindings", ()))
    if not files:
        return None
    if len(files) == 1:
        return files[0]
    with tempfile.NamedTemporaryFile(prefix=".cnb-ca-", suffix=".pem", delete=False) as handle:
        for path in files:
            handle.write(path.read_bytes().rstrip(b"\n") + b"\n")
    return Path(handle.name)
