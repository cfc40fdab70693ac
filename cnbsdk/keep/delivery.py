"""The delivery hook: after a successful build, an image's command gets the build record
as JSON on its stdin, or its webhook URL gets it as a POST, with retries. A failure is
recorded on the build; it never fails the build."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from cnbsdk.keep.model import Delivery

ATTEMPTS = 3
TIMEOUT = 60


def deliver(
    delivery: Delivery,
    record: dict[str, Any],
    *,
    log: Callable[[str], None],
    pause: Callable[[float], None] = time.sleep,
) -> str:
    """Call the hook; returns what to record ('' when there is no hook)."""
    if not delivery.command and not delivery.webhook:
        return ""
    body = json.dumps(record, sort_keys=True).encode()
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _call(delivery, body)
            log(f"Delivery hook succeeded (attempt {attempt})")
            return f"delivered (attempt {attempt})"
        except (OSError, subprocess.SubprocessError) as failure:
            error = str(failure).strip().splitlines()[-1] if str(failure).strip() else repr(failure)
            log(f"Delivery hook failed (attempt {attempt} of {ATTEMPTS}): {error}")
            if attempt < ATTEMPTS:
                pause(2 ** (attempt - 1))
    return f"failed after {ATTEMPTS} attempts: {error}"


def _call(delivery: Delivery, body: bytes) -> None:
    if delivery.command:
        done = subprocess.run(
            delivery.command, shell=True, input=body, capture_output=True, timeout=TIMEOUT
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()
            raise subprocess.SubprocessError(
                f"exit {done.returncode}" + (f": {tail[-1]}" if tail else "")
            )
    if delivery.webhook:
        request = urllib.request.Request(
            delivery.webhook,
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            if response.status >= 300:
                raise OSError(f"HTTP {response.status}")
