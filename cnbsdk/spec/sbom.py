"""SBOM media types and file names (buildpack.md §Software-Bill-of-Materials)."""

from __future__ import annotations

from cnbsdk.errors import SpecError

# buildpack.md §Software-Bill-of-Materials: the only media types a buildpack may write.
SBOM_FORMATS: dict[str, str] = {
    "application/vnd.cyclonedx+json": "cdx.json",
    "application/spdx+json": "spdx.json",
    "application/vnd.syft+json": "syft.json",
}


def sbom_extension(media_type: str) -> str:
    """The file suffix for an SBOM media type, e.g. ``cdx.json``."""
    try:
        return SBOM_FORMATS[media_type]
    except KeyError:
        known = ", ".join(SBOM_FORMATS)
        raise SpecError(
            f"unknown SBOM media type {media_type!r}: expected one of {known}"
        ) from None


def media_type_for_filename(name: str) -> str:
    """The media type of an SBOM file such as ``node.sbom.cdx.json`` or ``launch.sbom.syft.json``.

    The lifecycle fails the build on any other ``*.sbom.*.json`` file, so this raises too.
    """
    base, sep, extension = name.rpartition(".sbom.")
    if not sep or not base:
        raise SpecError(f"not an SBOM file name: {name!r} (expected <name>.sbom.<format>.json)")
    for media_type, known in SBOM_FORMATS.items():
        if extension == known:
            return media_type
    known_list = ", ".join(SBOM_FORMATS.values())
    raise SpecError(f"unknown SBOM file extension {extension!r} in {name!r}: use {known_list}")
