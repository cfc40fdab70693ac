"""Suite-wide fixtures: the real docker-registry on loopback (tests/registry_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

# Make ``tests.registry_server`` importable however pytest is started (``pytest`` or
# ``python -m pytest``), with or without tests/__init__.py.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

pytest_plugins = ["tests.registry_server", "tests.npm_registry", "tests.pypi_index"]
