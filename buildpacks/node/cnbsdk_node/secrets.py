"""What npm needs to reach its registry: credentials from an ``npmrc`` service binding
(its ``.npmrc`` file) or the ``npm_config_*`` env, and the extra certificate authorities of
``ca-certificates`` bindings. They reach npm through its env only — never the log, never
a layer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnbsdk.buildpack.ca_certificates import extra_ca_bundle

_SECRET_WORDS = ("token", "auth", "password", "_authtoken")


@dataclass(frozen=True)
class NpmAuth:
    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


def npm_auth(context: Any, environ: Mapping[str, str]) -> NpmAuth:
    env: dict[str, str] = {}
    secrets = [
        value
        for name, value in environ.items()
        if name.lower().startswith("npm_config_") and any(w in name.lower() for w in _SECRET_WORDS)
    ]
    bundle = extra_ca_bundle(context)
    if bundle is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(bundle)
    for binding in context.bindings_of_type("npmrc"):
        npmrc = binding.entries.get(".npmrc") or binding.entries.get("npmrc")
        if npmrc is None:
            continue
        env["NPM_CONFIG_USERCONFIG"] = str(npmrc)
        for line in npmrc.read_text(errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep and any(w in key.lower() for w in _SECRET_WORDS) and value.strip():
                secrets.append(value.strip())
        break
    return NpmAuth(env, tuple(s for s in secrets if len(s) >= 4))
