"""What a hook gets: the directories, platform data, target and configuration of this run."""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.config import ConfigurationResolver
from cnbsdk.buildpack.layers import Layers
from cnbsdk.buildpack.log import Logger
from cnbsdk.errors import BuildpackError, CnbError
from cnbsdk.spec.buildpack_plan import BuildpackPlan, PlanEntry
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.store_toml import StoreToml

DEFAULT_EXEC_ENV = "production"


@dataclass(frozen=True)
class RunTarget:
    """The run image the app is built for (``CNB_TARGET_*``); empty when not known."""

    os: str = ""
    arch: str = ""
    arch_variant: str = ""
    distro_name: str = ""
    distro_version: str = ""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> RunTarget:
        return cls(
            os=environ.get("CNB_TARGET_OS", ""),
            arch=environ.get("CNB_TARGET_ARCH", ""),
            arch_variant=environ.get("CNB_TARGET_ARCH_VARIANT", ""),
            distro_name=environ.get("CNB_TARGET_DISTRO_NAME", ""),
            distro_version=environ.get("CNB_TARGET_DISTRO_VERSION", ""),
        )


@dataclass(frozen=True)
class Binding:
    """A service binding (servicebinding.io): ``<root>/<name>/{type,provider,<entries>}``."""

    name: str
    path: Path
    type: str
    provider: str = ""
    entries: Mapping[str, Path] = field(default_factory=dict)

    def read(self, key: str) -> str:
        """The content of entry ``key`` (a secret: never log it)."""
        if key not in self.entries:
            known = ", ".join(sorted(self.entries)) or "none"
            raise BuildpackError(
                f"binding {self.name!r} has no entry {key!r} (entries: {known})",
                file=str(self.path),
            )
        return self.entries[key].read_text(encoding="utf-8")


def bindings_root(platform_dir: Path, environ: Mapping[str, str]) -> Path:
    """``$SERVICE_BINDING_ROOT``, else ``<platform>/bindings``."""
    root = environ.get("SERVICE_BINDING_ROOT")
    return Path(root) if root else platform_dir / "bindings"


def read_bindings(root: Path) -> tuple[Binding, ...]:
    """Every binding under ``root``, sorted by name; a binding without ``type`` is an error."""
    if not root.is_dir():
        return ()
    bindings = []
    for directory in sorted(root.iterdir()):
        # Kubernetes projects volumes with hidden ..data links; they are not bindings.
        if directory.name.startswith(".") or not directory.is_dir():
            continue
        type_file = directory / "type"
        if not type_file.is_file():
            raise BuildpackError(
                f"binding {directory.name!r} has no type",
                file=str(type_file),
                hint="servicebinding.io requires a 'type' file in every binding",
            )
        provider_file = directory / "provider"
        entries = {
            p.name: p
            for p in sorted(directory.iterdir())
            # ..data and its siblings: Kubernetes' atomic-writer bookkeeping; .npmrc is an entry
            if p.is_file() and not p.name.startswith("..") and p.name not in {"type", "provider"}
        }
        bindings.append(
            Binding(
                name=directory.name,
                path=directory,
                type=type_file.read_text(encoding="utf-8").strip(),
                provider=(
                    provider_file.read_text(encoding="utf-8").strip()
                    if provider_file.is_file()
                    else ""
                ),
                entries=entries,
            )
        )
    return tuple(bindings)


def read_platform_env(platform_dir: Path) -> dict[str, str]:
    """The user's env from ``<platform>/env/<NAME>`` files, values byte for byte."""
    env_dir = platform_dir / "env"
    if not env_dir.is_dir():
        return {}
    return {
        p.name: p.read_bytes().decode("utf-8", errors="surrogateescape")
        for p in sorted(env_dir.iterdir())
        if p.is_file()
    }


@dataclass
class DetectContext:
    """Everything detect may look at. The app directory is read-only during detect."""

    app_dir: Path
    buildpack_dir: Path
    platform_dir: Path
    descriptor: BuildpackDescriptor
    descriptor_file: Path
    environ: MutableMapping[str, str]
    platform_env: Mapping[str, str]
    bindings: tuple[Binding, ...]
    target: RunTarget
    exec_env: str
    config: ConfigurationResolver
    logger: Logger

    @property
    def buildpack_id(self) -> str:
        return str(self.descriptor.buildpack.id)

    @property
    def buildpack_version(self) -> str:
        return str(self.descriptor.buildpack.version)

    @property
    def buildpack_name(self) -> str:
        return self.descriptor.buildpack.name or self.buildpack_id

    def bindings_of_type(self, binding_type: str) -> tuple[Binding, ...]:
        """Bindings whose type matches (case-insensitively, as servicebinding.io says)."""
        return tuple(b for b in self.bindings if b.type.lower() == binding_type.lower())


@dataclass
class BuildContext(DetectContext):
    """Everything build gets: the detect context plus layers, plan and restored store."""

    layers_dir: Path
    layers: Layers
    buildpack_plan: BuildpackPlan
    store: dict[str, Any]

    def plan_entries(self, name: str) -> tuple[PlanEntry, ...]:
        """The buildpack-plan entries named ``name`` (one per buildpack that required it)."""
        return tuple(e for e in self.buildpack_plan.entries if e.name == name)


def _common(
    *,
    app_dir: Path,
    buildpack_dir: Path,
    platform_dir: Path,
    environ: MutableMapping[str, str] | None,
    descriptor: BuildpackDescriptor | None,
    descriptor_file: Path | None,
    logger: Logger | None,
) -> dict[str, Any]:
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    descriptor_file = descriptor_file or buildpack_dir / "buildpack.toml"
    if descriptor is None:
        descriptor = BuildpackDescriptor.read(descriptor_file)
    platform_env = read_platform_env(platform_dir)
    return {
        "app_dir": app_dir,
        "buildpack_dir": buildpack_dir,
        "platform_dir": platform_dir,
        "descriptor": descriptor,
        "descriptor_file": descriptor_file,
        "environ": env,
        "platform_env": platform_env,
        "bindings": read_bindings(bindings_root(platform_dir, env)),
        "target": RunTarget.from_environ(env),
        "exec_env": env.get("CNB_EXEC_ENV") or DEFAULT_EXEC_ENV,
        "config": ConfigurationResolver(
            descriptor.metadata.configurations,
            platform_env,
            env,
            descriptor_file=str(descriptor_file),
        ),
        "logger": logger if logger is not None else Logger(env),
    }


def make_detect_context(
    *,
    app_dir: Path,
    buildpack_dir: Path,
    platform_dir: Path,
    environ: MutableMapping[str, str] | None = None,
    descriptor: BuildpackDescriptor | None = None,
    descriptor_file: Path | None = None,
    logger: Logger | None = None,
) -> DetectContext:
    """Build a detect context from directories (the runtime and unit tests both use this)."""
    return DetectContext(
        **_common(
            app_dir=Path(app_dir),
            buildpack_dir=Path(buildpack_dir),
            platform_dir=Path(platform_dir),
            environ=environ,
            descriptor=descriptor,
            descriptor_file=descriptor_file,
            logger=logger,
        )
    )


def _read_store(layers_dir: Path) -> dict[str, Any]:
    path = layers_dir / "store.toml"
    if not path.is_file():
        return {}
    return dict(StoreToml.read(path).metadata)


def _read_plan(plan_path: Path | None) -> BuildpackPlan:
    if plan_path is None or not plan_path.is_file():
        return BuildpackPlan()
    return BuildpackPlan.read(plan_path)


def make_build_context(
    *,
    app_dir: Path,
    buildpack_dir: Path,
    platform_dir: Path,
    layers_dir: Path,
    plan_path: Path | None = None,
    environ: MutableMapping[str, str] | None = None,
    descriptor: BuildpackDescriptor | None = None,
    descriptor_file: Path | None = None,
    logger: Logger | None = None,
) -> BuildContext:
    """Build a build context: reads the buildpack plan and the restored ``store.toml``."""
    common = _common(
        app_dir=Path(app_dir),
        buildpack_dir=Path(buildpack_dir),
        platform_dir=Path(platform_dir),
        environ=environ,
        descriptor=descriptor,
        descriptor_file=descriptor_file,
        logger=logger,
    )
    layers_dir = Path(layers_dir)
    try:
        store = _read_store(layers_dir)
    except CnbError as error:
        # A store.toml the next build cannot read must not fail it: start from scratch.
        common["logger"].warning(f"ignoring the restored store.toml: {error}")
        store = {}
    descriptor_obj: BuildpackDescriptor = common["descriptor"]
    layers = Layers(
        layers_dir,
        logger=common["logger"],
        sbom_formats=descriptor_obj.buildpack.sbom_formats,
        descriptor_file=str(common["descriptor_file"]),
    )
    return BuildContext(
        **common,
        layers_dir=layers_dir,
        layers=layers,
        buildpack_plan=_read_plan(plan_path),
        store=store,
    )
