"""Small builders for lifecycle tests: buildpacks, orders, build plans and a scripted runner.

Descriptors are built with the spec models (never TOML by hand); a fake runner stands in for
``bin/detect`` where a test is about the detector's logic rather than running processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from cnbsdk.lifecycle.detect import DetectVerdict
from cnbsdk.lifecycle.order import BuildpackIndex, GroupElement, LocatedBuildpack
from cnbsdk.spec.build_plan import BuildPlan, PlanOption, Provide, Require
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor, BuildpackInfo
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion
from cnbsdk.spec.order import GroupEntry, OrderGroup

VERSION = "1.0.0"
Ref = str | tuple[str, bool]  # "id" or ("id", optional)


def descriptor(
    id: str,
    version: str = VERSION,
    *,
    order: Sequence[Sequence[Ref]] = (),
    api: str = "0.10",
    clear_env: bool = False,
    homepage: str = "",
) -> BuildpackDescriptor:
    return BuildpackDescriptor(
        api=ApiVersion.parse(api),
        buildpack=BuildpackInfo(
            id=BuildpackId(id),
            version=BuildpackVersion(version),
            homepage=homepage,
            clear_env=clear_env,
        ),
        order=order_of(*order),
    )


def located(
    id: str, version: str = VERSION, *, directory: Path | None = None, **kwargs: object
) -> LocatedBuildpack:
    return LocatedBuildpack(
        descriptor(id, version, **kwargs),  # type: ignore[arg-type]
        directory or Path("/cnb/buildpacks") / id / version,
    )


def entry(ref: Ref, version: str = VERSION) -> GroupEntry:
    id, optional = (ref, False) if isinstance(ref, str) else ref
    return GroupEntry(id=BuildpackId(id), version=BuildpackVersion(version), optional=optional)


def order_of(*groups: Sequence[Ref]) -> tuple[OrderGroup, ...]:
    return tuple(OrderGroup(tuple(entry(ref) for ref in group)) for group in groups)


def index(*buildpacks: LocatedBuildpack) -> BuildpackIndex:
    return BuildpackIndex(buildpacks)


def components(*ids: str) -> list[LocatedBuildpack]:
    return [located(id) for id in ids]


def element(id: str, optional: bool = False, **kwargs: object) -> GroupElement:
    bp = located(id, **kwargs)  # type: ignore[arg-type]
    info = bp.descriptor.buildpack
    return GroupElement(info.id, info.version, optional, bp)


def ids(group: Iterable[GroupElement]) -> list[str]:
    return [str(e.id) + ("?" if e.optional else "") for e in group]


def require(name: str, **metadata: object) -> Require:
    return Require(name, dict(metadata))


def option(provides: Sequence[str] = (), requires: Sequence[str | Require] = ()) -> PlanOption:
    return PlanOption(
        provides=tuple(Provide(n) for n in provides),
        requires=tuple(r if isinstance(r, Require) else Require(r) for r in requires),
    )


def plan(
    provides: Sequence[str] = (),
    requires: Sequence[str | Require] = (),
    *alternatives: PlanOption,
) -> BuildPlan:
    top = option(provides, requires)
    return BuildPlan(provides=top.provides, requires=top.requires, alternatives=alternatives)


class ScriptedRunner:
    """A ``DetectRunner`` answering from a table id -> verdict, recording every call."""

    def __init__(self, verdicts: dict[str, DetectVerdict]) -> None:
        self.verdicts = verdicts
        self.calls: list[str] = []

    def __call__(self, element: GroupElement) -> DetectVerdict:
        self.calls.append(str(element.id))
        return self.verdicts[str(element.id)]


def passes(build_plan: BuildPlan | None = None, output: str = "") -> DetectVerdict:
    return DetectVerdict(0, output, build_plan or BuildPlan())


def fails(output: str = "") -> DetectVerdict:
    return DetectVerdict(100, output)


def errors(code: int = 1, output: str = "") -> DetectVerdict:
    return DetectVerdict(code, output)
