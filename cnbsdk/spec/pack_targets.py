"""``[[targets]]`` in pack's builder.toml and package.toml.

pack decodes these with its own ``dist.Target``: the distributions are
``[[targets.distributions]] name = "ubuntu", versions = ["22.04", "24.04"]``, unlike
buildpack.toml's ``[[targets.distros]] name, version``. Both shapes are read into the shared
:class:`~cnbsdk.spec.target.Target` (one Distro per version); pack's shape is written, because
pack refuses keys it does not know.
"""

from __future__ import annotations

from typing import Any

from cnbsdk.spec.fields import Fields
from cnbsdk.spec.target import Distro, Target


def parse_pack_target(f: Fields) -> Target:
    """One ``[[targets]]`` table, in pack's shape or buildpack.toml's."""
    distros = [Distro.from_fields(d) for d in f.each("distros")]
    for dist in f.each("distributions"):
        name = dist.str("name", "")
        versions = dist.str_list("versions")
        distros.extend(Distro(name, version) for version in versions or [""])
    return Target(
        os=f.str("os", ""),
        arch=f.str("arch", ""),
        variant=f.str("variant", "") or f.str("arch-variant", ""),
        distros=tuple(distros),
    )


def parse_pack_targets(f: Fields, key: str = "targets") -> tuple[Target, ...]:
    return tuple(parse_pack_target(t) for t in f.each(key))


def pack_target_to_dict(target: Target) -> dict[str, Any]:
    """A Target in pack's shape: distros of one name grouped into one ``versions`` list."""
    data: dict[str, Any] = {}
    for key, value in (("os", target.os), ("arch", target.arch), ("variant", target.variant)):
        if value:
            data[key] = value
    distributions: list[dict[str, Any]] = []
    last_name: str | None = None
    for distro in target.distros:
        if distro.name != last_name or not distributions:
            distributions.append({"name": distro.name} if distro.name else {})
            last_name = distro.name
        if distro.version:
            distributions[-1].setdefault("versions", []).append(distro.version)
    if distributions:
        data["distributions"] = distributions
    return data
