"""Buildpack dependencies: ``[[metadata.dependencies]]`` resolution by version constraint,
checksum-verified downloads, mirrors and the offline copies ``--offline`` bundles.

A buildpack's build hook calls :func:`deliver` (or uses :class:`Dependencies`); packaging
calls :func:`bundle_dependencies`. Only the standard library, ``cnbsdk.spec`` and
``cnbsdk.errors`` are imported: this package is vendored into every packaged buildpack.
"""

from cnbsdk.deps.deliver import Dependencies, deliver
from cnbsdk.deps.download import download
from cnbsdk.deps.mirrors import mirror_uri
from cnbsdk.deps.offline import OFFLINE_DIR, bundle_dependencies, offline_artifact
from cnbsdk.deps.resolve import resolve
from cnbsdk.deps.versions import Constraint, Version
from cnbsdk.errors import DependencyError

__all__ = [
    "OFFLINE_DIR",
    "Constraint",
    "Dependencies",
    "DependencyError",
    "Version",
    "bundle_dependencies",
    "deliver",
    "download",
    "mirror_uri",
    "offline_artifact",
    "resolve",
]
