"""Which package index the installers use, and with what credentials.

First found: the user's own ``PIP_INDEX_URL``/``PIP_EXTRA_INDEX_URL`` (pip),
``UV_DEFAULT_INDEX``/``UV_INDEX_URL``/``UV_INDEX`` (uv) in the build env; else a ``pip``
service binding (its ``pip.conf``, whose ``index-url`` and ``extra-index-url`` serve uv
too); else ``BP_PYPI_INDEX``, the index the catalog's ``pypi:/`` URIs use (``cnbsdk build``
fills it from the host's pip configuration). Credentials inside index URLs
(``https://user:token@host/simple``) reach the tools through their env only: they are
replaced by ``***`` in everything logged, and nothing of them is written to a layer.
"""

from __future__ import annotations

import configparser
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.ca_certificates import extra_ca_bundle

PIP_VARIABLES = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_TRUSTED_HOST")
SYSTEM_CAS = Path("/etc/ssl/certs/ca-certificates.crt")
UV_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL")


@dataclass(frozen=True)
class IndexConfig:
    """The env the installers get for their index, and the secrets to keep out of logs."""

    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    source: str = ""  # for the log: where the index comes from (never the URL itself)


def url_secrets(url: str) -> list[str]:
    """The password (or token) and the userinfo of an index URL, for redaction."""
    found = []
    for word in url.split():
        parsed = urllib.parse.urlsplit(word)
        if parsed.password:
            found.append(parsed.password)
            found.append(urllib.parse.unquote(parsed.password))
        if parsed.username and "@" in parsed.netloc:
            found.append(parsed.netloc.rsplit("@", 1)[0])
    return [s for s in found if len(s) >= 3]


def _with_system_cas(extra: Path | None) -> Path | None:
    """pip, uv and Poetry take one CA file that replaces the system's: the system's
    certificates and the bindings' together (a temporary file, never in a layer)."""
    if extra is None:
        return None
    with tempfile.NamedTemporaryFile(prefix=".cnb-ca-", suffix=".pem", delete=False) as out:
        for path in (SYSTEM_CAS, extra):
            try:
                out.write(path.read_bytes().rstrip(b"\n") + b"\n")
            except OSError:
                continue
    return Path(out.name)


PACKAGE_SUFFIXES = (".whl", ".tar.gz", ".zip")


def _pip_conf(context: Any) -> tuple[str, dict[str, str]] | None:
    """A ``pip`` binding: its ``pip.conf`` (``[global]`` and ``[install]``), and the
    packages it holds (wheels, sdists), which become a local mirror: ``find-links`` to the
    binding, and no index unless its pip.conf names one (an air-gapped build)."""
    for binding in context.bindings_of_type("pip"):
        conf = binding.entries.get("pip.conf")
        packages = [p for name, p in binding.entries.items() if name.endswith(PACKAGE_SUFFIXES)]
        if conf is None:
            if packages:
                return "", {"find-links": str(binding.path), "no-index": "true"}
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(conf.read_text(errors="replace"))
        except configparser.Error:
            continue
        values = {}
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k: v.strip() for k, v in parser.items(section)})
        if packages:
            values.setdefault("find-links", str(binding.path))
            if "index-url" not in values:
                values.setdefault("no-index", "true")
        return str(conf), values
    return None


def index_config(context: Any, environ: Mapping[str, str]) -> IndexConfig:
    env: dict[str, str] = {}
    secrets: list[str] = []
    source = ""
    user_pip = {k: environ[k] for k in PIP_VARIABLES if environ.get(k)}
    user_uv = {k: environ[k] for k in UV_VARIABLES if environ.get(k)}
    conf = _pip_conf(context)
    if user_pip or user_uv:
        source = "the build env"
        env.update(user_pip)
        env.update(user_uv)
        if user_pip.get("PIP_INDEX_URL") and not user_uv:
            env["UV_DEFAULT_INDEX"] = user_pip["PIP_INDEX_URL"]
            if user_pip.get("PIP_EXTRA_INDEX_URL"):
                env["UV_INDEX"] = user_pip["PIP_EXTRA_INDEX_URL"]
    elif conf is not None:
        path, values = conf
        source = "the pip binding"
        if path:
            env["PIP_CONFIG_FILE"] = path
        if values.get("no-index", "").lower() in ("1", "true", "yes"):
            env["PIP_NO_INDEX"] = "1"
            env["UV_NO_INDEX"] = "1"
            source += " (its packages only: no index)"
        if values.get("find-links"):
            env["PIP_FIND_LINKS"] = values["find-links"]
        if values.get("index-url"):
            env["UV_DEFAULT_INDEX"] = values["index-url"]
        if values.get("extra-index-url"):
            env["UV_INDEX"] = " ".join(values["extra-index-url"].split())
        if values.get("find-links"):
            env["UV_FIND_LINKS"] = values["find-links"]
        secrets += [s for v in values.values() for s in url_secrets(v)]
    elif environ.get("BP_PYPI_INDEX"):
        source = "BP_PYPI_INDEX"
        env["PIP_INDEX_URL"] = environ["BP_PYPI_INDEX"]
        env["UV_DEFAULT_INDEX"] = environ["BP_PYPI_INDEX"]
    for value in env.values():
        secrets += url_secrets(value)
    bundle = _with_system_cas(extra_ca_bundle(context))
    if bundle is not None:
        env.setdefault("PIP_CERT", str(bundle))
        env.setdefault("SSL_CERT_FILE", str(bundle))
        env.setdefault("REQUESTS_CA_BUNDLE", str(bundle))
    return IndexConfig(env, tuple(dict.fromkeys(secrets)), source)
