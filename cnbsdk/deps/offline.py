"""Offline dependencies bundled inside a packaged buildpack.

``cnbsdk package buildpack --offline`` stores every ``[[metadata.dependencies]]`` artifact as
``<buildpack>/dependencies/<sha256 hex>/<file name>`` beside ``dependencies/<sha256 hex>.toml``
(the entry as buildpack.toml declares it), the layout libpak's dependency cache reads.
buildpack.toml is not rewritten: delivery looks here first, by checksum, and only then goes
to the network. jam's ``file:///dependencies/<sha>`` URIs are resolved here too.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

from cnbsdk.deps.download import download, filename_of
from cnbsdk.deps.host_registries import registry_env
from cnbsdk.deps.mirrors import mirror_uri
from cnbsdk.deps.pypi_index import find_file_url
from cnbsdk.deps.registries import resolve_registry_uris
from cnbsdk.errors import DependencyError
from cnbsdk.spec.buildpack_toml import Dependency
from cnbsdk.spec.toml_file import dump_toml, write_atomic

OFFLINE_DIR = "dependencies"


def _hex(dependency: Dependency) -> str:
    return dependency.checksum.partition(":")[2]


def offline_artifact(buildpack_dir: Path, dependency: Dependency) -> Path | None:
    """The bundled file for ``dependency``, or None when the buildpack carries none."""
    folder = Path(buildpack_dir) / OFFLINE_DIR / _hex(dependency)
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if len(files) == 1:
            return files[0]
    jam = urllib.parse.urlsplit(dependency.uri)
    if jam.scheme == "file" and jam.path.startswith(f"/{OFFLINE_DIR}/"):
        candidate = Path(buildpack_dir) / jam.path.lstrip("/")
        if candidate.is_file():
            return candidate
    return None


def bundle_dependencies(
    dependencies: tuple[Dependency, ...],
    buildpack_dir: Path,
    *,
    environ: Mapping[str, str] | None = None,
    user_agent: str = "cnbsdk",
    on_download: Callable[[Dependency, str], None] | None = None,
    file: str | None = None,
) -> list[Path]:
    """Download each dependency (verified) into ``buildpack_dir/dependencies``; return the
    files. One artifact shared by several entries (same checksum) is fetched once."""
    environ = os.environ if environ is None else environ
    environ = {**registry_env([d.uri for d in dependencies], environ, environ), **environ}
    written: dict[str, Path] = {}
    for index, dependency in enumerate(dependencies):
        key = _hex(dependency)
        if key in written:
            continue
        where = f"metadata.dependencies[{index}] ({dependency.id} {dependency.version})"
        try:
            uris = [
                mirror_uri(uri, environ)
                for uri in resolve_registry_uris(
                    dependency.uri, environ, pypi_lookup=_lookup(user_agent)
                )
            ]
        except DependencyError as error:
            raise DependencyError(str(error), file=file, field=where) from None
        target = Path(buildpack_dir) / OFFLINE_DIR / key / filename_of(dependency.uri)
        failures: list[str] = []
        for uri in uris:
            if on_download is not None:
                on_download(dependency, uri)
            try:
                download(uri, dependency.checksum, target, user_agent=user_agent)
                break
            except DependencyError as error:
                failures.append(f"{error.message} (from {uri})")
        else:
            raise DependencyError("; ".join(failures), file=file, field=where)
        write_atomic(target.parent.with_suffix(".toml"), dump_toml(dependency.to_dict()))
        written[key] = target
    return list(written.values())


def _lookup(user_agent: str) -> Callable[[str, str, str], str]:
    def lookup(index: str, project: str, filename: str) -> str:
        return find_file_url(index, project, filename, user_agent=user_agent)

    return lookup
