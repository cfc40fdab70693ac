"""Which ``--buildpack`` (or project.toml ``uri``) names a buildpackage rather than a
directory or an installed plugin id (docs/commands.md, ``--buildpack``).

The precedence, first match wins:

1. an existing directory: a buildpack directory or a plugin package/project (not ours);
2. an existing file (``file://`` allowed): a ``.cnb`` buildpackage;
3. ``oci:PATH[:TAG]``, ``docker-archive:PATH``, ``docker://HOST/REPO[:TAG|@DIGEST]``;
4. a name whose first part is a registry host (holds ``.`` or ``:``, or is ``localhost``),
   e.g. ``127.0.0.1:5000/bps/x:1``: that registry;
5. a name with a ``:TAG`` or ``@sha256:`` (which no buildpack id has): the local store;
6. anything else is an installed plugin id (or ``ID@VERSION`` of a builder's buildpack).
"""

from __future__ import annotations

from pathlib import Path

from cnbsdk.errors import BuildError

IMAGE_TRANSPORTS = ("oci:", "docker-archive:", "docker://")


def buildpackage_reference(source: str, *, base: Path | None = None) -> str | None:
    """The buildpackage ``source`` names (an absolute ``.cnb`` path or an image reference),
    or None when it is a directory or a plugin id. Relative paths are taken from ``base``
    (default: the working directory)."""
    text = source.removeprefix("file://")
    path = Path(text) if base is None or Path(text).is_absolute() else base / text
    if path.is_dir():
        return None
    if path.is_file():
        return str(path.resolve())
    if source.startswith(("file://", ".", "/", "~")):
        if path.suffix == ".cnb":
            raise BuildError("no such .cnb file", file=str(path))
        return None  # a missing directory: reported where directories are read
    if text.startswith(IMAGE_TRANSPORTS):
        return text
    first, slash, _rest = text.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return text
    if path.suffix == ".cnb":
        raise BuildError("no such .cnb file", file=str(path))
    if ":" in text:
        return text
    return None
