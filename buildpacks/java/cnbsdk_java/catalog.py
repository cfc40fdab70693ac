"""Fetching catalog entries, with the cause and the cure when a pinned file is gone.

Debian removes a package's old ``.deb`` from the archive when it publishes a new version,
so a catalog pinned to one goes stale; the error then says to refresh the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cnbsdk.deps import Dependencies
from cnbsdk.errors import DependencyError
from cnbsdk.spec.buildpack_toml import Dependency

STALE_HINT = (
    "the archive no longer has this version (Debian replaces package versions when it"
    " publishes new ones): run `cnbsdk deps update` on the Java buildpack to pin the"
    " current ones, or give a mirror that keeps old versions (BP_DEBIAN_MIRROR)"
)


@contextmanager
def explained(dependency: Dependency) -> Iterator[None]:
    """Re-raise a failed download of a ``deb:/`` entry with the cure for a vanished file."""
    try:
        yield
    except DependencyError as error:
        gone = "HTTP 404" in error.message or "no such file" in error.message
        if dependency.uri.startswith("deb:") and gone and error.hint is None:
            raise DependencyError(
                f"{dependency.name or dependency.id} {dependency.version}: {error.message}",
                file=error.file,
                hint=STALE_HINT,
            ) from None
        raise


def fetch(context: Any, dependency: Dependency, directory: Path) -> Path:
    """The verified artifact of ``dependency`` in ``directory``."""
    with explained(dependency):
        return Dependencies.from_context(context).fetch(dependency, directory)


def deliver(context: Any, dependency: Dependency, layer_path: Path) -> None:
    """Fetch ``dependency`` and unpack it into ``layer_path`` (strip-components applied)."""
    with explained(dependency):
        Dependencies.from_context(context).deliver(dependency, layer_path)


def entries_with_prefix(context: Any, prefix: str) -> list[Dependency]:
    """Every catalog id starting with ``prefix``, each at its highest version."""
    dependencies = Dependencies.from_context(context)
    ids = sorted(
        {d.id for d in context.descriptor.metadata.dependencies if d.id.startswith(prefix)}
    )
    return [dependencies.resolve(dependency_id, "*") for dependency_id in ids]
