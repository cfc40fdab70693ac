"""Build-plan resolution (digest §2.4, checklist rules 7, 8, 10) and the buildpack plan with
``unmet`` pass-on (digest §3.2, checklist rule 11)."""

from __future__ import annotations

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.plan import (
    PlanUnresolved,
    buildpack_plan_for,
    plan_after_build,
    resolve_plan,
)
from cnbsdk.spec.build_toml import BuildToml, Unmet
from cnbsdk.spec.platform_files import GroupToml, PlatformPlan
from tests.lifecycle.builders import element, ids, option, plan, require


def test_rule_7_provider_before_requirer_resolves_into_one_entry() -> None:
    node, app = element("node"), element("web-app")
    resolved = resolve_plan(
        [(node, plan(["node"])), (app, plan([], [require("node", version="18.x")]))]
    )
    assert ids(resolved.group) == ["node", "web-app"]
    assert resolved.platform_plan().to_dict() == {
        "entries": [
            {
                "providers": [{"id": "node", "version": "1.0.0"}],
                "requires": [{"name": "node", "metadata": {"version": "18.x"}}],
            }
        ]
    }


def test_rule_7_a_buildpack_may_satisfy_itself() -> None:
    # Provides are registered before the requires of the same buildpack.
    resolved = resolve_plan([(element("a"), plan(["x"], ["x"]))])
    assert [e.name for e in resolved.entries] == ["x"]
    assert ids(resolved.entries[0].providers) == ["a"]


def test_rule_7_require_before_any_provider_is_unmet() -> None:
    with pytest.raises(PlanUnresolved) as raised:
        resolve_plan([(element("web-app"), plan([], ["node"])), (element("node"), plan(["node"]))])
    assert str(raised.value) == (
        "build plan does not resolve: web-app@1.0.0 requires 'node', but neither it nor a "
        "buildpack before it provides it"
    )


def test_rule_7_top_level_option_is_tried_before_or_alternatives() -> None:
    a = element("a")
    both = plan(["x"], ["x"], option(["y"], ["y"]))
    resolved = resolve_plan([(a, both)])
    assert resolved.trial == 1
    assert [e.name for e in resolved.entries] == ["x"]


def test_rule_7_or_alternative_is_used_when_the_top_level_does_not_fit() -> None:
    # a provides jdk or (jre); b requires jre: the second option of a wins.
    a, b = element("a"), element("b")
    resolved = resolve_plan([(a, plan(["jdk"], [], option(["jre"]))), (b, plan([], ["jre"]))])
    assert resolved.trial == 2
    assert [e.name for e in resolved.entries] == ["jre"]


def test_rule_7_first_elements_options_vary_in_the_outermost_loop() -> None:
    # a: x | y ; b: requires-x-or-y as (x) | (y) — both (x, x) and (y, y) resolve, but the
    # trials run (a0,b0) (a0,b1) (a1,b0) (a1,b1): (a0, b0) is first.
    a = element("a")
    b = element("b")
    resolved = resolve_plan(
        [(a, plan(["y"], [], option(["x"]))), (b, plan([], ["x"], option([], ["y"])))]
    )
    # (a:y, b:x) fails, (a:y, b:y) resolves at trial 2 before (a:x, b:x) at trial 3.
    assert resolved.trial == 2
    assert [e.name for e in resolved.entries] == ["y"]


def test_rule_8_required_element_with_unused_provide_fails_the_trial() -> None:
    with pytest.raises(
        PlanUnresolved,
        match=r"a@1\.0\.0 provides 'x', but neither it nor a buildpack after it requires it",
    ):
        resolve_plan([(element("a"), plan(["x"])), (element("b"), plan())])


def test_rule_8_optional_element_that_does_not_fit_is_dropped_and_the_trial_recomputed() -> None:
    # c (optional) provides 'unused'; it is dropped. Dropping it leaves a and b resolving.
    a, b, c = element("a"), element("b"), element("c", optional=True)
    resolved = resolve_plan([(a, plan(["x"])), (c, plan(["unused"])), (b, plan([], ["x"]))])
    assert ids(resolved.group) == ["a", "b"]
    assert [(str(d.element), d.reason) for d in resolved.dropped] == [
        ("c@1.0.0", "provides 'unused', but neither it nor a buildpack after it requires it")
    ]


def test_rule_8_dropping_cascades_until_stable() -> None:
    # Dropping optional b (unmet require) leaves optional a's provide unused: a goes too.
    a, b, c = element("a", optional=True), element("b", optional=True), element("c")
    resolved = resolve_plan([(a, plan(["x"])), (b, plan([], ["x", "missing"])), (c, plan())])
    assert ids(resolved.group) == ["c"]
    assert [str(d.element) for d in resolved.dropped] == ["b@1.0.0", "a@1.0.0"]


def test_rule_8_dropping_an_optional_provider_can_fail_a_required_requirer() -> None:
    a, b = element("a", optional=True), element("b")
    with pytest.raises(PlanUnresolved, match=r"b@1\.0\.0 requires 'x'"):
        resolve_plan([(a, plan(["x"], ["missing"])), (b, plan([], ["x"]))])


def test_rule_8_optional_counts_as_optional_only_in_its_last_option() -> None:
    # a (optional): provides x | provides y; b (optional) requires y; c needs nothing.
    # Trial 1 (a: x): a's provide is unused. Were a optional there, a would be dropped, then
    # b (unmet y), and the group would be [c]. In its first option a counts as required, so
    # the trial fails and trial 2 (a: y) keeps all three.
    a, b, c = element("a", optional=True), element("b", optional=True), element("c")
    resolved = resolve_plan(
        [(a, plan(["x"], [], option(["y"]))), (b, plan([], ["y"])), (c, plan())]
    )
    assert resolved.trial == 2
    assert ids(resolved.group) == ["a?", "b?", "c"]
    assert [e.name for e in resolved.entries] == ["y"]
    assert resolved.dropped == ()


def test_rule_8_optional_in_its_last_option_is_dropped() -> None:
    a, b = element("a", optional=True), element("b")
    resolved = resolve_plan([(a, plan(["x"], [], option(["z"]))), (b, plan())])
    assert ids(resolved.group) == ["b"]
    assert resolved.trial == 2


def test_rule_8_empty_trial_fails() -> None:
    with pytest.raises(PlanUnresolved, match="no buildpack is left"):
        resolve_plan([(element("a", optional=True), plan([], ["x"]))])


def test_plan_unresolved_lists_every_trial_reason() -> None:
    a = element("a")
    with pytest.raises(PlanUnresolved) as raised:
        resolve_plan([(a, plan([], ["x"], option([], ["y"])))])
    assert len(raised.value.reasons) == 2
    assert str(raised.value).startswith("no build plan resolves (2 combinations")


def test_rule_10_entries_hold_one_name_every_provider_and_every_require() -> None:
    a, b, c, d = element("a"), element("b"), element("c"), element("d")
    resolved = resolve_plan(
        [
            (a, plan(["node"])),
            (b, plan(["node"], [require("node", version="18")])),
            (c, plan([], [require("node", version="20")])),
            (d, plan(["yarn"], ["yarn", "node"])),
        ]
    )
    entries = resolved.platform_plan().to_dict()["entries"]
    assert entries == [
        {
            "providers": [{"id": "a", "version": "1.0.0"}, {"id": "b", "version": "1.0.0"}],
            "requires": [
                {"name": "node", "metadata": {"version": "18"}},
                {"name": "node", "metadata": {"version": "20"}},
                {"name": "node"},
            ],
        },
        {
            "providers": [{"id": "d", "version": "1.0.0"}],
            "requires": [{"name": "yarn"}],
        },
    ]


def test_rule_10_group_toml_lists_passing_buildpacks_in_order_without_optional() -> None:
    a, b = element("a", optional=True, api="0.11"), element("b", homepage="https://b.test")
    resolved = resolve_plan([(a, plan()), (b, plan())])
    group = resolved.group_toml()
    assert GroupToml.from_toml(group.to_toml()) == group
    assert group.to_dict() == {
        "group": [
            {"id": "a", "version": "1.0.0", "api": "0.11"},
            {"id": "b", "version": "1.0.0", "api": "0.10", "homepage": "https://b.test"},
        ]
    }


# -- buildpack plans and unmet ----------------------------------------------------------------


def _two_provider_plan() -> PlatformPlan:
    a, b, c = element("a"), element("b"), element("c")
    return resolve_plan(
        [
            (a, plan(["node", "yarn"])),
            (b, plan(["node"])),
            (c, plan([], [require("node", version="18"), require("yarn")])),
        ]
    ).platform_plan()


def test_rule_11_buildpack_plan_holds_requires_of_entries_it_provides() -> None:
    full = _two_provider_plan()
    assert buildpack_plan_for(full, "a").to_dict() == {
        "entries": [{"name": "node", "metadata": {"version": "18"}}, {"name": "yarn"}]
    }
    assert buildpack_plan_for(full, "b").to_dict() == {
        "entries": [{"name": "node", "metadata": {"version": "18"}}]
    }
    assert buildpack_plan_for(full, "c").entries == ()


def test_rule_11_unmet_names_go_on_to_the_next_provider_met_ones_are_removed() -> None:
    full = _two_provider_plan()
    after_a = plan_after_build(full, "a", BuildToml(unmet=(Unmet("node"),)))
    # a met yarn: removed; node was left unmet: b still receives it.
    assert [r.name for e in after_a.entries for r in e.requires] == ["node"]
    assert [e.name for e in buildpack_plan_for(after_a, "b").entries] == ["node"]


def test_rule_11_without_unmet_everything_is_met() -> None:
    after_a = plan_after_build(_two_provider_plan(), "a", [])
    assert buildpack_plan_for(after_a, "b").entries == ()


def test_rule_11_unmet_name_not_in_the_buildpack_plan_is_an_error() -> None:
    with pytest.raises(BuildError) as raised:
        plan_after_build(_two_provider_plan(), "b", ["yarn"], file="/layers/b/build.toml")
    assert str(raised.value) == (
        "/layers/b/build.toml: unmet[0].name: buildpack b leaves 'yarn' unmet, but its "
        "buildpack plan has no entry of that name"
    )
