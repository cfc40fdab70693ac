"""What a buildpack's build hook calls: resolve a dependency, fetch it, put it in a layer.

``Dependencies.from_context(context)`` (or the one-call :func:`deliver`) looks for the
artifact in this order, like libpak's dependency cache:

1. the buildpack's own ``dependencies/<sha256>/<file>`` (bundled by ``--offline``);
2. the URI a ``dependency-mapping`` binding gives for the dependency's checksum;
3. the dependency's ``uri``, rewritten through ``BP_DEPENDENCY_MIRROR[_<HOST>]`` when set
   (from the build env or the platform's ``/platform/env``), else through a
   ``dependency-mirror`` binding, checked against its sha256.

Downloads are retried (``BP_DEPENDENCY_ATTEMPTS``, default 4, with back-off) and time out
when the server stops sending for ``BP_DEPENDENCY_TIMEOUT`` seconds (default 30); large
files log their progress.

Archives (tar, tar.gz/xz/bz2, zip) are unpacked into the layer with ``strip-components``;
other files are copied into it under their own name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cnbsdk.deps.archive import install_artifact
from cnbsdk.deps.download import (
    DEFAULT_ATTEMPTS,
    DEFAULT_TIMEOUT,
    copy_verified,
    download,
    filename_of,
)
from cnbsdk.deps.mirrors import BindingLike, ca_certificate_files, mapped_uri, mirror_uri
from cnbsdk.deps.offline import offline_artifact
from cnbsdk.deps.pypi_index import find_file_url
from cnbsdk.deps.registries import DEB_SCHEME, resolve_registry_uris
from cnbsdk.deps.resolve import resolve
from cnbsdk.errors import DependencyError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, Dependency


class BuildContextLike(Protocol):
    """The parts of ``cnbsdk.buildpack.BuildContext`` used here (deps does not import it)."""

    @property
    def buildpack_dir(self) -> Path: ...
    @property
    def descriptor(self) -> BuildpackDescriptor: ...
    @property
    def descriptor_file(self) -> Path: ...
    @property
    def environ(self) -> Mapping[str, str]: ...
    @property
    def platform_env(self) -> Mapping[str, str]: ...
    @property
    def logger(self) -> Any: ...
    @property
    def target(self) -> Any: ...


PROGRESS_MIN_BYTES = 8 << 20  # below this a download logs no progress
ATTEMPTS_VARIABLE = "BP_DEPENDENCY_ATTEMPTS"
TIMEOUT_VARIABLE = "BP_DEPENDENCY_TIMEOUT"
# A directory the platform shares between builds: verified downloads kept by checksum, so a
# new app (or a build with an empty cache) does not fetch the same runtime again.
SHARED_CACHE_VARIABLE = "CNBSDK_DEPENDENCY_CACHE"


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise DependencyError(f"{name}={raw!r}: expected a number from 1 to 3600")
    return value


@dataclass
class Dependencies:
    """The ``[[metadata.dependencies]]`` of one buildpack, ready to deliver."""

    descriptor: BuildpackDescriptor
    buildpack_dir: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    descriptor_file: str | None = None
    os: str = ""
    arch: str = ""
    logger: Any = None
    bindings: Sequence[BindingLike] = ()

    @classmethod
    def from_context(cls, context: BuildContextLike) -> Dependencies:
        environ = {**context.environ, **context.platform_env}
        target = getattr(context, "target", None)
        return cls(
            descriptor=context.descriptor,
            buildpack_dir=Path(context.buildpack_dir),
            environ=environ,
            descriptor_file=str(context.descriptor_file),
            os=getattr(target, "os", "") or "",
            arch=getattr(target, "arch", "") or "",
            logger=getattr(context, "logger", None),
            bindings=tuple(getattr(context, "bindings", ())),
        )

    @property
    def user_agent(self) -> str:
        info = self.descriptor.buildpack
        return f"{info.id}/{info.version}"

    def resolve(self, dependency_id: str, constraint: str = "") -> Dependency:
        """The highest declared version of ``dependency_id`` allowed by ``constraint``."""
        return resolve(
            self.descriptor.metadata,
            dependency_id,
            constraint,
            stack=self.environ.get("CNB_STACK_ID", ""),
            os=self.os,
            arch=self.arch,
            file=self.descriptor_file,
        )

    def fetch(self, dependency: Dependency, directory: Path) -> Path:
        """The verified artifact as a file in ``directory`` (offline copy first)."""
        destination = Path(directory) / filename_of(dependency.uri)
        bundled = offline_artifact(self.buildpack_dir, dependency)
        if bundled is not None:
            self._say(f"Using the bundled {filename_of(dependency.uri)} (offline)")
            with open(bundled, "rb") as stream:
                return copy_verified(stream, dependency.checksum, destination, source=str(bundled))
        shared = self._shared_path(dependency)
        if shared is not None and shared.is_file():
            try:
                with open(shared, "rb") as stream:
                    copy_verified(stream, dependency.checksum, destination, source=str(shared))
                self._say(f"Using {filename_of(dependency.uri)} from the platform's download cache")
                return destination
            except (OSError, DependencyError):
                shared.unlink(missing_ok=True)  # damaged: fetched again
        mapped = mapped_uri(dependency.checksum, self.bindings)
        if mapped is not None:
            self._say("Using the dependency-mapping binding for this checksum")
            uris = [mapped]
        else:
            found = resolve_registry_uris(dependency.uri, self.environ, pypi_lookup=self._lookup)
            uris = [mirror_uri(uri, self.environ, self.bindings) for uri in found]
        failures: list[DependencyError] = []
        for uri in uris:
            self._say(f"Downloading {uri}")
            try:
                path = download(
                    uri,
                    dependency.checksum,
                    destination,
                    user_agent=self.user_agent,
                    timeout=self._timeout,
                    attempts=int(_number(self.environ, ATTEMPTS_VARIABLE, DEFAULT_ATTEMPTS)),
                    progress=self._progress(),
                    extra_ca_files=ca_certificate_files(self.bindings),
                )
                break
            except DependencyError as error:
                failures.append(error)
                if len(failures) < len(uris):
                    self._say(f"{error.message}; trying the next place")
        else:
            stale = "Debian drops old versions as it publishes updates: run `cnbsdk deps update`"
            if len(failures) == 1:
                if dependency.uri.startswith(DEB_SCHEME) and not failures[0].hint:
                    failures[0].hint = stale
                raise failures[0]
            raise DependencyError(
                f"not fetched from any of {len(failures)} places: "
                + "; ".join(str(error) for error in failures),
                file=dependency.uri,
                hint=stale if dependency.uri.startswith(DEB_SCHEME) else None,
            )
        self._say("Verified checksum " + dependency.checksum)
        if shared is not None:
            _share(path, shared)
        return path

    def _shared_path(self, dependency: Dependency) -> Path | None:
        root = self.environ.get(SHARED_CACHE_VARIABLE, "").strip()
        digest = dependency.checksum.partition(":")[2]
        if not root or not digest:
            return None
        return Path(root) / digest / filename_of(dependency.uri)

    @property
    def _timeout(self) -> float:
        return _number(self.environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT)

    def _lookup(self, index: str, project: str, filename: str) -> str:
        """The URL of a ``pypi:`` URI's file, asked of the package index."""
        self._say(f"Looking up {filename} in the package index")
        return find_file_url(
            index,
            project,
            filename,
            user_agent=self.user_agent,
            timeout=self._timeout,
            extra_ca_files=ca_certificate_files(self.bindings),
        )

    def _progress(self) -> Callable[[int, int], None]:
        """Logs ``Downloaded 25% of 48.1 MB`` at each quarter of a large download."""
        shown = [0]

        def report(done: int, total: int) -> None:
            if total < PROGRESS_MIN_BYTES:
                return
            quarter = done * 4 // total
            if quarter > shown[0]:
                shown[0] = quarter
                self._say(f"Downloaded {quarter * 25}% of {total / 1e6:.1f} MB")

        return report

    def deliver(self, dependency: Dependency, layer_path: Path) -> Dependency:
        """Fetch ``dependency`` and install it into ``layer_path``."""
        work = Path(tempfile.mkdtemp(prefix="cnbsdk-deps-"))
        try:
            artifact = self.fetch(dependency, work)
            install_artifact(
                artifact, Path(layer_path), strip_components=dependency.strip_components
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return dependency

    def _say(self, text: str) -> None:
        detail = getattr(self.logger, "detail", None)
        if callable(detail):
            detail(text)


def _share(path: Path, shared: Path) -> None:
    """Keep a verified download in the shared cache (atomically; a cache, nothing more)."""
    temporary = shared.with_name(f".{shared.name}.{os.getpid()}.part")
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, shared)
    except OSError:
        temporary.unlink(missing_ok=True)


def deliver(
    context: BuildContextLike,
    dependency_id: str,
    version_constraint: str,
    layer_path: Path,
) -> Dependency:
    """Resolve ``dependency_id`` against ``version_constraint`` (``""``/``default`` means the
    buildpack's default version), install it into ``layer_path`` and return the entry."""
    dependencies = Dependencies.from_context(context)
    dependency = dependencies.resolve(dependency_id, version_constraint)
    selected = getattr(context.logger, "selected_dependency", None)
    if callable(selected):
        selected(dependency.name or dependency.id, dependency.version)
    return dependencies.deliver(dependency, layer_path)
