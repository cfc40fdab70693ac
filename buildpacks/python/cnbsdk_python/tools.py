"""The installers themselves, from the catalog into build-time layers (never the image):

- ``pip``: the pip wheel unpacked (``python -m pip`` with the layer on ``PYTHONPATH``);
- ``uv``: the uv wheel unpacked (its binary is ``uv-X.data/scripts/uv``);
- ``poetry``: a virtual environment of the build image's own Python holding Poetry and the
  wheels it needs (the ``poetry.*`` catalog entries), installed by pip with no index.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.dependency_layer import dependency_layer
from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.buildpack.tools import run_tool
from cnbsdk.deps import Dependencies
from cnbsdk.deps.planner import plan_version
from cnbsdk.spec.buildpack_toml import Dependency
from cnbsdk_python.installers import Installer

POETRY_FORMAT = 1


def tool_layer(context: Any, dependencies: Dependencies, name: str, label: str) -> Installer:
    dependency = plan_version(dependencies, name, [], name=label, logger=context.logger).dependency
    layer = dependency_layer(context, dependency, name)
    return Installer(name, dependency.version, layer)


def poetry_set(dependencies: Dependencies) -> list[Dependency]:
    """Poetry's own wheels: every ``poetry.*`` catalog entry (one version each)."""
    return sorted(
        (d for d in dependencies.descriptor.metadata.dependencies if d.id.startswith("poetry.")),
        key=lambda d: d.id,
    )


def poetry_layer(
    context: Any, dependencies: Dependencies, pip: Installer, logger: Any
) -> Installer:
    poetry = plan_version(dependencies, "poetry", [], name="Poetry", logger=logger).dependency
    wheels = [poetry, *poetry_set(dependencies)]
    digest = hashlib.sha256("".join(d.checksum for d in wheels).encode()).hexdigest()
    key = {
        "format": POETRY_FORMAT,
        "version": poetry.version,
        "wheels": "sha256:" + digest,
        "python": ".".join(map(str, sys.version_info[:3])),
    }
    layer: LayerRef = context.layers.cached("poetry", key)
    if not layer.reused:
        work = Path(tempfile.mkdtemp(prefix="cnbsdk-poetry-"))
        try:
            files = [dependencies.fetch(d, work) for d in wheels]
            listing = work / "poetry-wheels.txt"
            listing.write_text("".join(f"{path}\n" for path in files))
            run_tool(
                [sys.executable, "-m", "venv", "--without-pip", layer.path],
                logger=logger,
                quiet=True,
            )
            run_tool(
                [
                    layer.path / "bin" / "python",
                    "-m",
                    "pip",
                    "install",
                    "--no-index",
                    "--no-deps",
                    "--no-compile",
                    "--disable-pip-version-check",
                    "--quiet",
                    "-r",
                    listing,
                ],
                logger=logger,
                env={"PYTHONPATH": str(pip.layer.path), "PATH": "/usr/bin:/bin"},
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Installer("poetry", poetry.version, layer)
