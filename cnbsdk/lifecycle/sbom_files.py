"""The SBOM files a buildpack wrote during its build (buildpack.md §Software-Bill-of-Materials,
digest §3.10, lifecycle ``buildpack/bomfile.go`` and the builder's ``copySBOMFiles``).

A buildpack writes ``<layers>/<bp>/<layer>.sbom.<ext>.json`` for a layer, and
``launch.sbom.<ext>.json`` / ``build.sbom.<ext>.json`` for dependencies outside any layer.
Every ``*.sbom.*.json`` file is checked: its extension must be one of the spec's
(``cdx``, ``spdx``, ``syft``) and its media type must be declared in the buildpack's
``sbom-formats``; anything else fails the build, as in the lifecycle. A layer SBOM whose layer
has no ``<layer>.toml``, or whose layer is ignored (all types false), is not carried on.

After the build the files are copied (the lifecycle copies too; the originals stay) to
``<layers>/sbom/{launch|build|cache}/<escaped id>[/<layer>]/sbom.<ext>.json``: a launch layer's
SBOM to ``launch``, any other layer's to ``build``, and a cache layer's to ``cache`` as well.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.errors import BuildError, SpecError
from cnbsdk.spec.layer_toml import LayerTypes
from cnbsdk.spec.sbom import SBOM_FORMATS, media_type_for_filename

LAUNCH, BUILD, CACHE = "launch", "build", "cache"
SBOM_DIR = "sbom"
_GLOB = "*.sbom.*.json"


@dataclass(frozen=True)
class SbomFile:
    """One SBOM file of a buildpack and where it goes: ``kind`` is launch, build or cache;
    ``layer`` is empty for ``launch.sbom.*`` / ``build.sbom.*``."""

    path: Path
    buildpack_id: str
    kind: str
    layer: str
    media_type: str

    @property
    def name(self) -> str:
        """The file name under ``<layers>/sbom/...``: ``sbom.<ext>``."""
        return f"sbom.{SBOM_FORMATS[self.media_type]}"

    def destination(self, layers_dir: Path) -> Path:
        escaped = self.buildpack_id.replace("/", "_")
        directory = layers_dir / SBOM_DIR / self.kind / escaped
        if self.layer:
            directory = directory / self.layer
        return directory / self.name


def find_sbom_files(
    buildpack_layers_dir: Path,
    *,
    buildpack_id: str,
    declared: Sequence[str],
    layer_types: Mapping[str, LayerTypes],
    shown_as: Path | None = None,
    buildpack_name: str = "",
) -> list[SbomFile]:
    """Check every ``*.sbom.*.json`` of one buildpack and say where each goes.

    ``layer_types`` holds the types of each layer that has a ``<layer>.toml``. ``shown_as``
    is the buildpack's layers dir as the buildpack saw it and ``buildpack_name`` its name
    (e.g. ``id@version``), both used in error messages. Raises
    ``BuildError`` naming the file for an unknown extension, an undeclared media type or a
    file that is not a regular file.
    """
    shown = shown_as or buildpack_layers_dir
    who = f"buildpack {buildpack_name or buildpack_id}"
    found: list[SbomFile] = []
    for path in sorted(buildpack_layers_dir.glob(_GLOB), key=lambda p: os.fsencode(p.name)):
        where = str(shown / path.name)
        if path.is_symlink() or not path.is_file():
            raise BuildError(
                f"{who}: an SBOM file must be a regular file (not a symlink or a directory)",
                file=where,
            )
        try:
            media_type = media_type_for_filename(path.name)
        except SpecError as error:
            raise BuildError(f"{who}: {error.message}", file=where) from None
        if media_type not in declared:
            declared_text = ", ".join(declared) or "none"
            raise BuildError(
                f"{who}: undeclared SBOM media type {media_type!r} "
                f"(its buildpack.toml sbom-formats: {declared_text})",
                file=where,
            )
        owner = path.name[: -len(f".sbom.{SBOM_FORMATS[media_type]}")]
        found.extend(_placements(path, buildpack_id, owner, media_type, layer_types))
    return found


def _placements(
    path: Path,
    buildpack_id: str,
    owner: str,
    media_type: str,
    layer_types: Mapping[str, LayerTypes],
) -> Iterable[SbomFile]:
    if owner in (LAUNCH, BUILD):
        yield SbomFile(path, buildpack_id, owner, "", media_type)
        return
    types = layer_types.get(owner)
    if types is None or types.ignored:
        return  # no layer (or an ignored one) to describe: the lifecycle skips it too
    yield SbomFile(path, buildpack_id, LAUNCH if types.launch else BUILD, owner, media_type)
    if types.cache:
        yield SbomFile(path, buildpack_id, CACHE, owner, media_type)


def clear_sbom_dir(layers_dir: Path) -> None:
    """Remove ``<layers>/sbom`` so that buildpacks never see it and no stale file survives."""
    target = layers_dir / SBOM_DIR
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)


def copy_sbom_files(files: Iterable[SbomFile], layers_dir: Path) -> list[Path]:
    """Copy each file to its place under ``<layers>/sbom``; returns the new paths in order."""
    written: list[Path] = []
    for sbom in files:
        destination = sbom.destination(layers_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sbom.path, destination, follow_symlinks=False)
        written.append(destination)
    return written
