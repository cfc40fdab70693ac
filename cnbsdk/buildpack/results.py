"""What the hooks return: values the framework turns into plan.toml, launch.toml and friends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnbsdk.buildpack.sbom import Sbom
from cnbsdk.errors import BuildpackError
from cnbsdk.spec import launch_toml
from cnbsdk.spec.build_plan import BuildPlan, PlanOption, Provide, Require
from cnbsdk.spec.ids import ProcessType

ProvideLike = str | Provide
RequireLike = str | Require
OptionLike = PlanOption | Mapping[str, Any]


def _provide(value: ProvideLike) -> Provide:
    return value if isinstance(value, Provide) else Provide(name=value)


def _require(value: RequireLike) -> Require:
    return value if isinstance(value, Require) else Require(name=value)


def plan_option(
    provides: Iterable[ProvideLike] = (), requires: Iterable[RequireLike] = ()
) -> PlanOption:
    """One build-plan option: names (or Provide/Require values) it provides and requires."""
    return PlanOption(
        provides=tuple(_provide(p) for p in provides),
        requires=tuple(_require(r) for r in requires),
    )


def _option(value: OptionLike) -> PlanOption:
    if isinstance(value, PlanOption):
        return value
    unknown = set(value) - {"provides", "requires"}
    if unknown:
        raise BuildpackError(
            f"a detect alternative may only hold 'provides' and 'requires', not {sorted(unknown)}"
        )
    return plan_option(value.get("provides", ()), value.get("requires", ()))


@dataclass(frozen=True)
class DetectResult:
    """The outcome of detect: pass with a build plan, or fail with a reason."""

    passes: bool
    plan: BuildPlan = field(default_factory=BuildPlan)
    reason: str = ""

    @classmethod
    def passed(
        cls,
        provides: Iterable[ProvideLike] = (),
        requires: Iterable[RequireLike] = (),
        alternatives: Iterable[OptionLike] = (),
    ) -> DetectResult:
        """Pass. ``requires`` entries are names or ``Require(name, metadata={...})``; each
        alternative (``plan_option(...)`` or ``{"provides": [...], "requires": [...]}``)
        becomes an ``[[or]]`` option tried after the top-level one."""
        first = plan_option(provides, requires)
        plan = BuildPlan(
            provides=first.provides,
            requires=first.requires,
            alternatives=tuple(_option(a) for a in alternatives),
        )
        return cls(passes=True, plan=plan)

    @classmethod
    def fail(cls, reason: str = "") -> DetectResult:
        """Step aside (exit 100); ``reason`` is printed for the user."""
        return cls(passes=False, reason=reason)


@dataclass(frozen=True)
class Process:
    """A launch process: ``Process("web", ["node", "server.js"], default=True)``."""

    type: str
    command: Sequence[str]
    args: Sequence[str] = ()
    default: bool = False
    working_dir: str = ""
    exec_env: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ProcessType(self.type))
        if isinstance(self.command, str) or not self.command:
            raise BuildpackError(
                f"process {self.type!r}: command must be a non-empty list of strings, "
                f"got {self.command!r}",
                hint='e.g. Process("web", ["node", "server.js"])',
            )
        for name in ("command", "args", "exec_env"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise BuildpackError(
                    f"process {self.type!r}: {name} must be a list of strings, got {value!r}"
                )
            object.__setattr__(self, name, tuple(value))

    def to_spec(self) -> launch_toml.Process:
        return launch_toml.Process(
            type=ProcessType(self.type),
            command=tuple(self.command),
            args=tuple(self.args),
            default=self.default,
            working_dir=self.working_dir,
            exec_env=tuple(self.exec_env),
        )


@dataclass(frozen=True)
class Label:
    """An image label the buildpack sets (a later buildpack wins on the same key)."""

    key: str
    value: str

    def to_spec(self) -> launch_toml.Label:
        return launch_toml.Label(key=self.key, value=self.value)


@dataclass(frozen=True)
class Slice:
    """Globs (relative to the app dir) whose files go into their own app-image layer."""

    paths: Sequence[str] = ()

    def __post_init__(self) -> None:
        if isinstance(self.paths, str):
            raise BuildpackError(f"slice paths must be a list of globs, got {self.paths!r}")
        object.__setattr__(self, "paths", tuple(self.paths))

    def to_spec(self) -> launch_toml.Slice:
        return launch_toml.Slice(paths=tuple(self.paths))


@dataclass(frozen=True)
class BuildResult:
    """What build contributes besides its layers.

    ``unmet`` names buildpack-plan entries this buildpack did not satisfy (they go to the
    next provider). ``store`` (when not None) replaces ``store.toml``'s metadata, which the
    next build gets back as ``context.store``.
    """

    processes: Sequence[Process] = ()
    labels: Sequence[Label] = ()
    slices: Sequence[Slice] = ()
    unmet: Sequence[str] = ()
    store: Mapping[str, Any] | None = None
    launch_sbom: Sequence[Sbom] = ()
    build_sbom: Sequence[Sbom] = ()

    def __post_init__(self) -> None:
        for name in ("processes", "labels", "slices", "unmet", "launch_sbom", "build_sbom"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
                raise BuildpackError(f"BuildResult.{name} must be a list, got {value!r}")
            object.__setattr__(self, name, tuple(value))
