"""Targets (buildpack.md §Targets): the os/arch/variant/distro a buildpack or image is for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnbsdk.spec.fields import Fields, drop_empty


@dataclass(frozen=True)
class Distro:
    """An OS distribution: ``/etc/os-release`` ID and VERSION_ID."""

    name: str
    version: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> Distro:
        # buildpack.md §Targets: on Windows `name` SHOULD be empty and only `version` is set.
        return cls(name=f.str("name", ""), version=f.str("version", ""))

    def to_dict(self) -> dict[str, Any]:
        return drop_empty({"name": self.name, "version": self.version})


@dataclass(frozen=True)
class Target:
    """One target; a missing (empty) field matches anything."""

    os: str = ""
    arch: str = ""
    variant: str = ""
    distros: tuple[Distro, ...] = field(default_factory=tuple)

    @classmethod
    def from_fields(cls, f: Fields) -> Target:
        # The spec says `variant`; the lifecycle reads `arch-variant` (digest §7.1): accept both.
        variant = f.str("variant", "") or f.str("arch-variant", "")
        return cls(
            os=f.str("os", ""),
            arch=f.str("arch", ""),
            variant=variant,
            distros=tuple(Distro.from_fields(d) for d in f.each("distros")),
        )

    def to_dict(self) -> dict[str, Any]:
        return drop_empty(
            {
                "os": self.os,
                "arch": self.arch,
                "variant": self.variant,
                "distros": [d.to_dict() for d in self.distros],
            }
        )

    def matches(self, os: str, arch: str, variant: str = "", distro: Distro | None = None) -> bool:
        """Checklist §45: os, arch, variant equal or empty; one listed distro must match."""

        def same(mine: str, theirs: str) -> bool:
            return not mine or not theirs or mine == theirs

        if not (same(self.os, os) and same(self.arch, arch) and same(self.variant, variant)):
            return False
        if not self.distros:
            return True
        if distro is None:
            return False
        return any(
            same(d.name, distro.name) and same(d.version, distro.version) for d in self.distros
        )
