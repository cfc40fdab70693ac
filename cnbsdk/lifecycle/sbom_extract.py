"""Extracting an app image's launch SBOMs: one layer blob, never the whole image.

The exporter puts ``<layers>/sbom/launch/<escaped bp id>[/<layer>]/sbom.<ext>.json``
(cnb-spec-digest §3.10) in one layer and records its diffID as ``sbom.sha`` in
``io.buildpacks.lifecycle.metadata``. ``extract_launch_sboms`` maps that diffID to the
manifest's layer, streams only that blob (from a registry: one blob GET besides the
manifest and config), checks its digest and diffID while it is unpacked with the safe
extractor, and moves the ``launch`` tree into the output directory in one rename, so the
output is either complete or absent.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from cnbsdk.errors import ExtractionError, ImageError
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor, HashingReader
from cnbsdk.oci.extract import extract_layer
from cnbsdk.oci.models import ImageConfig
from cnbsdk.oci.open import open_image
from cnbsdk.oci.reference import parse_reference
from cnbsdk.oci.transport import ImageSource
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata

# Where the exporter puts the tree inside the layer (CNB_LAYERS_DIR is /layers in images);
# the output keeps the same relative path, as `pack sbom download` writes it.
_LAUNCH_IN_LAYER = ("layers", "sbom", "launch")


@dataclass(frozen=True)
class SbomExtraction:
    """What ``extract_launch_sboms`` wrote: ``files`` relative to ``output_dir``."""

    output_dir: Path
    files: tuple[str, ...]
    layer: Descriptor
    diff_id: str


def find_sbom_layer(reference: str, config: ImageConfig, layers: tuple[Descriptor, ...]) -> str:
    """The diffID of the image's launch SBOM layer; a one-line error when it has none."""
    raw = config.labels.get(LIFECYCLE_METADATA_LABEL)
    if raw is None:
        raise ImageError(
            f"not an app image: it has no {LIFECYCLE_METADATA_LABEL} label", file=reference
        )
    metadata = LifecycleMetadata.from_json(raw)
    if not metadata.sbom:
        raise ImageError(
            "the image has no launch SBOM layer (the buildpacks wrote no launch SBOM)",
            file=reference,
            field=f"{LIFECYCLE_METADATA_LABEL} sbom.sha",
        )
    if metadata.sbom not in config.diff_ids[: len(layers)]:
        raise ImageError(
            f"names SBOM layer {metadata.sbom}, which the image lacks",
            file=reference,
            field=f"{LIFECYCLE_METADATA_LABEL} sbom.sha",
        )
    return metadata.sbom


def extract_launch_sboms(reference: str, output_dir: Path) -> SbomExtraction:
    """Write the image's launch SBOMs to
    ``output_dir/layers/sbom/launch/<bp>/[<layer>/]sbom.<ext>.json`` (pack's layout).

    ``output_dir`` is created when missing; an existing ``layers/sbom/launch`` there is refused
    before anything is read, and on any error nothing is left behind.
    """
    output_dir = Path(output_dir)
    target = output_dir.joinpath(*_LAUNCH_IN_LAYER)
    if target.exists() or target.is_symlink():
        raise ImageError("already exists; choose another --output-dir", file=str(target))
    ref = parse_reference(reference)
    with open_image(ref) as image:
        source, config, layers = image.source, image.config, image.resolved.manifest.layers
        diff_id = find_sbom_layer(reference, config, layers)
        descriptor = layers[config.diff_ids.index(diff_id)]
        with _new_dir(output_dir) as made:
            work = Path(tempfile.mkdtemp(prefix=".sbom-", dir=output_dir))
            try:
                _unpack(source, descriptor, diff_id, work, what=reference)
                launch = work.joinpath(*_LAUNCH_IN_LAYER)
                if not launch.is_dir():
                    raise ImageError(
                        f"SBOM layer {diff_id} has no /{'/'.join(_LAUNCH_IN_LAYER)} directory",
                        file=reference,
                    )
                files = _checked_files(launch, diff_id, reference)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(launch, target)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            made.keep()
    return SbomExtraction(output_dir, files, descriptor, diff_id)


class _Made:
    def __init__(self) -> None:
        self.kept = False

    def keep(self) -> None:
        self.kept = True


@contextlib.contextmanager
def _new_dir(path: Path) -> Iterator[_Made]:
    """Create ``path`` if missing; remove it again (if still empty) unless ``keep()``."""
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    made = _Made()
    try:
        yield made
    finally:
        if created and not made.kept:
            with contextlib.suppress(OSError):
                path.rmdir()


def _unpack(
    source: ImageSource, descriptor: Descriptor, diff_id: str, target: Path, *, what: str
) -> None:
    """Stream one layer blob into ``target``, verifying its digest and its diffID."""
    if descriptor.media_type == mt.OCI_LAYER_ZSTD:
        raise ImageError(f"SBOM layer {descriptor.digest}: zstd layers are not supported")
    with source.open_blob(descriptor.digest) as stream:
        blob = HashingReader(stream)
        compressed = mt.is_gzip_layer(descriptor.media_type)
        tar_stream: BinaryIO = (
            cast(BinaryIO, gzip.GzipFile(fileobj=cast(BinaryIO, blob), mode="rb"))
            if compressed
            else cast(BinaryIO, blob)
        )
        content = HashingReader(tar_stream)
        try:
            extract_layer(cast(BinaryIO, content), target, same_owner=False, whiteouts=False)
            while content.read(1 << 20):  # tar padding after the end marker
                pass
            while blob.read(1 << 20):
                pass
        except (OSError, EOFError) as error:
            raise ExtractionError(f"SBOM layer {descriptor.digest}: {error}", file=what) from None
    if blob.digest != descriptor.digest:
        raise ImageError(
            f"SBOM layer blob does not match its digest {descriptor.digest}", file=what
        )
    if content.digest != diff_id:
        raise ImageError(f"SBOM layer content does not match its diffID {diff_id}", file=what)


def _checked_files(launch: Path, diff_id: str, what: str) -> tuple[str, ...]:
    """The regular files under ``launch`` (as ``layers/sbom/launch/...``); anything but files and
    directories (a symlink, say) is refused, so the output holds only plain SBOM files."""
    files: list[str] = []
    for directory, subdirs, names in os.walk(launch):
        for name in names + subdirs:
            path = Path(directory, name)
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            relative = path.relative_to(launch.parents[2]).as_posix()
            if not stat.S_ISREG(mode):
                raise ExtractionError(
                    f"SBOM layer {diff_id}: {relative} is not a regular file", file=what
                )
            files.append(relative)
    return tuple(sorted(files))
