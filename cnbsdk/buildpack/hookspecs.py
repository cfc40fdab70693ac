"""The hooks a buildpack implements: this module is the buildpack author's manual.

A buildpack is a Python package (or module) whose functions are marked ``@hookimpl``.
``buildpack.toml`` sits next to its ``__init__.py``. The framework reads the inputs the
lifecycle gives ``bin/detect`` and ``bin/build``, calls these hooks with a context, and
writes every output file from the value the hook returns: authors never write TOML.

Installed buildpacks are found through the entry-point group ``cnbsdk``::

    [project.entry-points.cnbsdk]
    my-buildpack = "my_buildpack"
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from cnbsdk.buildpack.context import BuildContext, DetectContext
    from cnbsdk.buildpack.results import BuildResult, DetectResult

PROJECT_NAME = "cnbsdk"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec(firstresult=True)
def detect(context: DetectContext) -> DetectResult:  # type: ignore[empty-body]
    """Decide whether this buildpack applies to the app in ``context.app_dir``.

    Return ``DetectResult.passed(provides=[...], requires=[...], alternatives=[...])`` to
    take part in the build, or ``DetectResult.fail("why not")`` to step aside (exit 100; the
    reason is printed). Raising ``BuildpackError`` is an error (exit 1), which fails the whole
    group unless the buildpack is optional. The app directory is read-only during detect.

    A buildpack without a ``detect`` hook always passes with an empty build plan.
    """


@hookspec(firstresult=True)
def build(context: BuildContext) -> BuildResult:  # type: ignore[empty-body]
    """Contribute layers and launch metadata for the app in ``context.app_dir``.

    Create layers with ``context.layers.cached(...)`` / ``context.layers.uncached(...)``;
    each call decides and logs whether a restored layer is reused. Return a
    ``BuildResult`` with processes, labels, slices, unmet plan entries, store metadata and
    launch/build SBOMs; the framework writes ``launch.toml``, ``build.toml``, ``store.toml``
    and the SBOM files. Raise ``BuildpackError`` to fail the build with a one-line message.
    """


@hookspec(firstresult=True)
def buildpack_toml() -> Path:  # type: ignore[empty-body]
    """Where this buildpack's ``buildpack.toml`` is, when it is not beside the plugin module."""
