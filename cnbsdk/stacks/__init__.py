"""Build and run base images assembled from pinned Debian packages, with their OS SBOM.

``definition`` reads a stack file, ``apt`` resolves and downloads packages through an
isolated apt, ``lock`` pins them, ``deb`` unpacks them, ``rootfs`` writes the generated
files, ``sbom`` describes the result and ``create`` puts the images together.
"""

from __future__ import annotations

from pathlib import Path

DEFINITIONS_DIR = Path(__file__).parent / "definitions"


def shipped_stack(name: str = "bookworm") -> Path:
    """The stack file cnbsdk ships (its lock sits beside it as ``stack.lock``)."""
    return DEFINITIONS_DIR / name / "stack-definition.toml"
