"""Order expansion (digest §2.3, checklist rule 6): composites, optional entries, duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.order import BuildpackIndex, expand_order
from tests.lifecycle.builders import components, descriptor, ids, index, located, order_of


def test_rule_6_composite_expands_depth_first_left_to_right() -> None:
    # The spec's example: [E, O, F] with O = [[A, B], [C, D]].
    lookup = index(
        *components("e", "f", "a", "b", "c", "d"), located("o", order=[["a", "b"], ["c", "d"]])
    )
    groups = expand_order(order_of(["e", "o", "f"]), lookup)
    assert [ids(g) for g in groups] == [["e", "a", "b", "f"], ["e", "c", "d", "f"]]


def test_rule_6_two_composites_form_a_cartesian_product_first_varying_slowest() -> None:
    lookup = index(
        *components("a", "b", "c", "d"),
        located("o", order=[["a"], ["b"]]),
        located("p", order=[["c"], ["d"]]),
    )
    groups = expand_order(order_of(["o", "p"]), lookup)
    assert [ids(g) for g in groups] == [["a", "c"], ["a", "d"], ["b", "c"], ["b", "d"]]


def test_rule_6_nested_composites_expand_recursively() -> None:
    lookup = index(
        *components("a", "b", "c"),
        located("inner", order=[["a"], ["b"]]),
        located("outer", order=[["inner", "c"]]),
    )
    groups = expand_order(order_of(["outer"]), lookup)
    assert [ids(g) for g in groups] == [["a", "c"], ["b", "c"]]


def test_rule_6_groups_of_the_order_keep_their_order() -> None:
    lookup = index(*components("a", "b"))
    groups = expand_order(order_of(["b"], ["a"]), lookup)
    assert [ids(g) for g in groups] == [["b"], ["a"]]


def test_rule_6_optional_member_adds_group_without_it() -> None:
    # An optional composite: its groups, then the group without it, right after them.
    lookup = index(*components("e", "a", "b", "f"), located("o", order=[["a"], ["b"]]))
    groups = expand_order(order_of(["e", ("o", True), "f"], ["f"]), lookup)
    assert [ids(g) for g in groups] == [["e", "a", "f"], ["e", "b", "f"], ["e", "f"], ["f"]]


def test_rule_6_optional_component_stays_marked_optional_without_a_copy() -> None:
    # The copy without an optional component could only fail again (see order.py); the
    # detector skips the member instead, as the reference lifecycle does.
    lookup = index(*components("a", "b", "c"))
    groups = expand_order(order_of(["a", ("b", True), "c"]), lookup)
    assert [ids(g) for g in groups] == [["a", "b?", "c"]]


def test_rule_6_members_of_a_composite_keep_their_own_optional_flag() -> None:
    lookup = index(*components("a", "b"), located("o", order=[["a", ("b", True)]]))
    groups = expand_order(order_of([("o", True)]), lookup)
    # The empty group left when the optional composite is removed is dropped.
    assert [ids(g) for g in groups] == [["a", "b?"]]


def test_rule_6_buildpack_appearing_twice_runs_once_at_its_first_place() -> None:
    lookup = index(*components("a", "b", "c"), located("o", order=[["b", "a"]]))
    groups = expand_order(order_of(["a", "o", "c", "a"]), lookup)
    assert [ids(g) for g in groups] == [["a", "b", "c"]]


def test_rule_6_identical_expanded_groups_are_tried_once() -> None:
    lookup = index(*components("a", "b"), located("o", order=[["a", "b"], ["a"]]))
    groups = expand_order(order_of(["o", "a"], ["a"]), lookup)
    assert [ids(g) for g in groups] == [["a", "b"], ["a"]]


def test_composite_cycle_is_an_error_naming_the_buildpack() -> None:
    lookup = index(
        located("x", order=[["y"]]),
        located("y", order=[["a", "x"]]),
        *components("a"),
    )
    with pytest.raises(BuildError) as raised:
        expand_order(order_of(["x"]), lookup)
    message = str(raised.value)
    assert "\n" not in message
    assert "x@1.0.0 includes itself: x@1.0.0 -> y@1.0.0 -> x@1.0.0" in message


def test_missing_buildpack_is_a_one_line_error_naming_id_and_version() -> None:
    lookup = index(*components("a"), located("o", order=[["a", "ghost"]]))
    with pytest.raises(BuildError) as raised:
        expand_order(order_of(["o"]), lookup)
    assert str(raised.value) == "buildpack ghost@1.0.0 not found (in the order of o@1.0.0)"


def test_element_carries_what_group_toml_needs() -> None:
    lookup = index(located("a", api="0.11", homepage="https://example.test/a"))
    [group] = expand_order(order_of(["a"]), lookup)
    member = group[0].to_group_member()
    assert member.to_dict() == {
        "id": "a",
        "version": "1.0.0",
        "api": "0.11",
        "homepage": "https://example.test/a",
    }


def test_index_reads_a_platform_buildpacks_dir(tmp_path: Path) -> None:
    for id, version in (("acme/node", "1.0.0"), ("acme/node", "2.0.0"), ("b", "0.1.0")):
        directory = tmp_path / id.replace("/", "_") / version
        directory.mkdir(parents=True)
        descriptor(id, version).write(directory / "buildpack.toml")
    found = BuildpackIndex.from_buildpacks_dir(tmp_path)
    assert len(found) == 3
    node = found.get("acme/node", "2.0.0")
    assert node is not None and node.directory == tmp_path / "acme_node" / "2.0.0"
    assert found.get("b", None) is not None
    with pytest.raises(BuildError, match="acme/node has several versions"):
        found.get("acme/node", None)


def test_index_refuses_the_same_buildpack_twice() -> None:
    with pytest.raises(BuildError, match=r"buildpack a@1\.0\.0 is given twice"):
        BuildpackIndex([located("a", directory=Path("/x")), located("a", directory=Path("/y"))])
