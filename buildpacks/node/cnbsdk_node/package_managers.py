"""Which package manager the app uses, and how each one installs, prunes and runs scripts.

npm is the catalog's; yarn (classic and berry) and pnpm run through corepack (from the
catalog too), in the version ``package.json``'s ``packageManager`` names (``yarn@4.5.0``,
``pnpm@9.12.0+sha512...``), else corepack's default for the lockfile found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cnbsdk.buildpack import BuildpackError
from cnbsdk_node.project import LOCKFILES, NodeProject

_SPEC = re.compile(r"^(npm|yarn|pnpm)@(\d+\.\d+\.\d+[0-9A-Za-z.+-]*)$")
YARN_LOCK = "yarn.lock"
PNPM_LOCK = "pnpm-lock.yaml"


@dataclass(frozen=True)
class PackageManager:
    """``name`` (npm, yarn or pnpm), the ``packageManager`` spec (``yarn@4.5.0``, or just
    the name for corepack's default) and the lockfile it reads, if there is one."""

    name: str
    spec: str
    lockfile: Path | None

    @property
    def berry(self) -> bool:
        """yarn 2 and later (``install --immutable``, ``workspaces focus``)."""
        version = self.spec.partition("@")[2]
        return self.name == "yarn" and bool(version) and not version.startswith("1.")

    @property
    def lockfiles(self) -> tuple[str, ...]:
        return {"npm": LOCKFILES, "yarn": (YARN_LOCK,), "pnpm": (PNPM_LOCK,)}[self.name]

    def install(self, *, dev: bool) -> list[str]:
        """Arguments installing every dependency (``dev``) or the production ones only."""
        locked = self.lockfile is not None
        if self.name == "npm":
            command = ["ci"] if locked else ["install"]
            return [*command, "--include=dev" if dev else "--omit=dev", "--no-audit", "--no-fund"]
        if self.name == "pnpm":
            frozen = ["--frozen-lockfile"] if locked else ["--no-frozen-lockfile"]
            return ["install", *frozen, *([] if dev else ["--prod"])]
        if self.berry:
            if dev:
                return ["install", *(["--immutable"] if locked else [])]
            return ["workspaces", "focus", "--all", "--production"]
        frozen = ["--frozen-lockfile"] if locked else []
        return [
            "install",
            *frozen,
            "--non-interactive",
            f"--production={'false' if dev else 'true'}",
        ]

    def prune(self) -> list[str]:
        """Arguments removing the dev dependencies of an installed tree."""
        if self.name == "npm":
            return ["prune", "--omit=dev", "--no-audit", "--no-fund"]
        if self.name == "pnpm":
            return ["prune", "--prod"]
        return self.install(dev=False)  # yarn re-installs, which removes what is not wanted

    def run(self, script: str) -> list[str]:
        return ["run", script]


def package_manager(project: NodeProject) -> PackageManager:
    """``packageManager`` first, then the lockfile present, else npm."""
    declared = project.package.get("packageManager")
    if declared is not None:
        spec = str(declared).split("+", 1)[0].strip()
        match = _SPEC.match(spec)
        if not isinstance(declared, str) or not match:
            raise BuildpackError(
                f'"packageManager" is {str(declared)[:60]!r}: expected npm@X.Y.Z, yarn@X.Y.Z'
                " or pnpm@X.Y.Z",
                file=str(project.package_json),
            )
        name = match.group(1)
        manager = PackageManager(name, spec, _lockfile(project.root, name))
        _check_linker(project.root, manager)
        return manager
    for name, files in (("pnpm", (PNPM_LOCK,)), ("yarn", (YARN_LOCK,)), ("npm", LOCKFILES)):
        if any((project.root / f).is_file() for f in files):
            return PackageManager(name, name, _lockfile(project.root, name))
    return PackageManager("npm", "npm", None)


_PNP_LINKER = re.compile(r"""^nodeLinker:\s*["']?pnp["']?\s*(#.*)?$""", re.MULTILINE)


def _check_linker(root: Path, manager: PackageManager) -> None:
    """yarn's Plug'n'Play keeps packages as zip files in its cache and needs yarn's loader at
    launch: not supported yet, said plainly rather than leaving an image that cannot start."""
    yarnrc = root / ".yarnrc.yml"
    text = yarnrc.read_text(errors="replace") if yarnrc.is_file() else ""
    if manager.berry and _PNP_LINKER.search(text):
        raise BuildpackError(
            "yarn Plug'n'Play (nodeLinker: pnp) is not supported yet: set "
            "'nodeLinker: node-modules' (or remove the line: the buildpack then chooses it)",
            file=str(yarnrc),
            field="nodeLinker",
        )


def _lockfile(root: Path, name: str) -> Path | None:
    files: Sequence[str] = {"npm": LOCKFILES, "yarn": (YARN_LOCK,), "pnpm": (PNPM_LOCK,)}[name]
    return next((root / f for f in files if (root / f).is_file()), None)
