"""Build-plan resolution inside a group (buildpack.md §Phase #1 "For each trial", digest §2.4,
lifecycle ``phase/detector.go``), and the buildpack plan each buildpack then receives
(buildpack.md §Buildpack Plan, §Unmet Buildpack Plan Entries, digest §3.2).

A *trial* picks one option per passing buildpack: the first buildpack's options vary in the
outermost loop, and each buildpack lists its top-level option first, then its ``[[or]]``s.
Within a trial, buildpacks are read left to right and each registers its provides before its
requires, so a buildpack may satisfy itself. A require with no provider so far is unmet; a
provide that no later require (own requires included) takes is unused. Either fails the
trial when it comes from a required buildpack; an optional one is dropped with all its
requires and provides and the trial is recomputed until nothing changes. As in the
lifecycle, a buildpack counts as optional only in its *last* option: in earlier ones a
misfit moves on to the next trial instead of dropping it. An empty trial fails.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.order import GroupElement
from cnbsdk.spec.build_plan import BuildPlan, PlanOption, Require
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.buildpack_plan import BuildpackPlan, PlanEntry
from cnbsdk.spec.platform_files import (
    GroupToml,
    PlanProvider,
    PlanRequirement,
    PlatformPlan,
    PlatformPlanEntry,
)


@dataclass(frozen=True)
class ResolvedEntry:
    """One dependency name of the resolved plan: every provider (in order) and every require."""

    name: str
    providers: tuple[GroupElement, ...]
    requires: tuple[Require, ...]

    def to_plan_entry(self) -> PlatformPlanEntry:
        return PlatformPlanEntry(
            providers=tuple(PlanProvider(p.id, p.version) for p in self.providers),
            requires=tuple(PlanRequirement(r.name, dict(r.metadata)) for r in self.requires),
        )


@dataclass(frozen=True)
class DroppedElement:
    """An optional buildpack left out by plan resolution, and why."""

    element: GroupElement
    reason: str


@dataclass(frozen=True)
class ResolvedPlan:
    """The selected group (passing buildpacks that fit, in group order) and its plan."""

    group: tuple[GroupElement, ...]
    entries: tuple[ResolvedEntry, ...]
    dropped: tuple[DroppedElement, ...] = ()
    trial: int = 1

    def group_toml(self) -> GroupToml:
        return GroupToml(group=tuple(element.to_group_member() for element in self.group))

    def platform_plan(self) -> PlatformPlan:
        return PlatformPlan(entries=tuple(entry.to_plan_entry() for entry in self.entries))


class PlanUnresolved(BuildError):
    """No trial resolved; ``reasons`` holds why each trial failed, in the order tried."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        if len(self.reasons) == 1:
            message = f"build plan does not resolve: {self.reasons[0]}"
        else:
            message = (
                f"no build plan resolves ({len(self.reasons)} combinations of [[or]] "
                f"alternatives tried); the first: {self.reasons[0]}"
            )
        super().__init__(message)


@dataclass(frozen=True)
class _Choice:
    """One buildpack's option in a trial; ``optional`` only in its last option."""

    element: GroupElement
    option: PlanOption
    optional: bool


@dataclass
class _Dependency:
    """The state of one name while a trial is read left to right."""

    providers: list[_Choice] = field(default_factory=list)
    pending: list[_Choice] = field(default_factory=list)
    requires: list[Require] = field(default_factory=list)
    early: list[_Choice] = field(default_factory=list)


def resolve_plan(passed: Sequence[tuple[GroupElement, BuildPlan | None]]) -> ResolvedPlan:
    """Resolve the plans of a group's passing buildpacks (in group order); the first trial
    that resolves wins. Raises ``PlanUnresolved`` naming why each trial failed.
    """
    choices_per_element = [_choices(element, plan) for element, plan in passed]
    reasons: list[str] = []
    for number, trial in enumerate(itertools.product(*choices_per_element), start=1):
        result = _run_trial(list(trial))
        if isinstance(result, str):
            reasons.append(result)
            continue
        group, entries, dropped = result
        return ResolvedPlan(group=group, entries=entries, dropped=dropped, trial=number)
    raise PlanUnresolved(reasons or ["no buildpack passed detection"])


def _choices(element: GroupElement, plan: BuildPlan | None) -> list[_Choice]:
    options = (plan or BuildPlan()).options
    last = len(options) - 1
    return [
        _Choice(element, option, element.optional and index == last)
        for index, option in enumerate(options)
    ]


_TrialResult = tuple[
    tuple[GroupElement, ...], tuple[ResolvedEntry, ...], tuple[DroppedElement, ...]
]


def _run_trial(trial: list[_Choice]) -> _TrialResult | str:
    """The trial's group, entries and dropped buildpacks, or why it fails."""
    dropped: list[DroppedElement] = []
    while True:
        dependencies = _dependencies(trial)
        misfits = _misfits(dependencies)
        for choice, reason in misfits:
            if not choice.optional:
                return f"{choice.element} {reason}"
        if not misfits:
            break
        gone: list[GroupElement] = []
        for choice, reason in misfits:
            if choice.element not in gone:
                gone.append(choice.element)
                dropped.append(DroppedElement(choice.element, reason))
        trial = [choice for choice in trial if choice.element not in gone]
    if not trial:
        return "no buildpack is left once the optional ones that do not fit are dropped"
    entries = tuple(
        ResolvedEntry(name, tuple(_unique(c.element for c in dep.providers)), tuple(dep.requires))
        for name, dep in dependencies.items()
        if dep.requires
    )
    return tuple(choice.element for choice in trial), entries, tuple(dropped)


def _dependencies(trial: Sequence[_Choice]) -> dict[str, _Dependency]:
    # Names keep the order they first appear in, so plan.toml is the same on every run.
    dependencies: dict[str, _Dependency] = {}
    for choice in trial:
        for provide in choice.option.provides:
            dependencies.setdefault(provide.name, _Dependency()).pending.append(choice)
        for require in choice.option.requires:
            dep = dependencies.setdefault(require.name, _Dependency())
            dep.providers.extend(dep.pending)
            dep.pending.clear()
            if dep.providers:
                dep.requires.append(require)
            else:
                dep.early.append(choice)
    return dependencies


def _misfits(dependencies: dict[str, _Dependency]) -> list[tuple[_Choice, str]]:
    """Every choice with an unmet require or an unused provide, with the reason."""
    misfits: list[tuple[_Choice, str]] = []
    for name, dep in dependencies.items():
        for choice in dep.early:
            misfits.append(
                (choice, f"requires {name!r}, but neither it nor a buildpack before it provides it")
            )
        for choice in dep.pending:
            misfits.append(
                (choice, f"provides {name!r}, but neither it nor a buildpack after it requires it")
            )
    return misfits


def _unique(elements: Iterable[GroupElement]) -> list[GroupElement]:
    seen: list[GroupElement] = []
    for element in elements:
        if element not in seen:
            seen.append(element)
    return seen


# -- the buildpack plan given to each buildpack ------------------------------------------------


def buildpack_plan_for(plan: PlatformPlan, buildpack_id: str) -> BuildpackPlan:
    """Every require of every entry this buildpack provides (lifecycle ``Plan.Find``)."""
    entries: list[PlanEntry] = []
    for entry in plan.entries:
        if any(p.id == buildpack_id and not p.extension for p in entry.providers):
            entries.extend(PlanEntry(r.name, dict(r.metadata)) for r in entry.requires)
    return BuildpackPlan(entries=tuple(entries))


def plan_after_build(
    plan: PlatformPlan,
    buildpack_id: str,
    unmet: BuildToml | Iterable[str],
    *,
    file: str | None = None,
) -> PlatformPlan:
    """The plan later buildpacks see once ``buildpack_id`` has built (digest §3.2).

    Names the buildpack left in ``build.toml [[unmet]]`` go on to the next provider; every
    other name of its buildpack plan is met and its entries are removed (lifecycle
    ``Plan.Filter``). An unmet name that is not in its buildpack plan is an error.
    """
    names = [u.name for u in unmet.unmet] if isinstance(unmet, BuildToml) else list(unmet)
    own = {entry.name for entry in buildpack_plan_for(plan, buildpack_id).entries}
    for index, name in enumerate(names):
        if name not in own:
            raise BuildError(
                f"buildpack {buildpack_id} leaves {name!r} unmet, but its buildpack plan "
                f"has no entry of that name",
                file=file or "build.toml",
                field=f"unmet[{index}].name",
            )
    met = own - set(names)
    return PlatformPlan(
        entries=tuple(
            entry
            for entry in plan.entries
            if not any(require.name in met for require in entry.requires)
        )
    )
