"""The default builder's detection order: Java, Node.js, Python, then the rest by id, so an
app with stray files of another language builds as the language it is written in."""

from __future__ import annotations

from cnbsdk.distribution.default_builder import (
    LANGUAGE_ORDER,
    PluginState,
    default_builder_toml,
    detection_order,
)


def _states(*ids: str) -> list[PluginState]:
    return [PluginState(bp_id, "1.0.0", "0" * 64) for bp_id in ids]


def test_language_buildpacks_come_first_in_their_order_then_the_rest_by_id() -> None:
    plugins = _states("examples/hello", "cnbsdk/python", "acme/ruby", "cnbsdk/node")
    assert [p.id for p in detection_order(plugins)] == [
        "cnbsdk/node",
        "cnbsdk/python",
        "acme/ruby",
        "examples/hello",
    ]
    everything = _states("cnbsdk/python", "cnbsdk/java", "cnbsdk/node")
    assert [p.id for p in detection_order(everything)] == list(LANGUAGE_ORDER)


def test_the_builder_toml_has_one_group_each_in_that_order() -> None:
    plugins = _states("cnbsdk/python", "examples/hello", "cnbsdk/node")
    builder = default_builder_toml("build:x", "run:x", plugins)
    groups = [[str(entry.id) for entry in group.group] for group in builder.order]
    assert groups == [["cnbsdk/node"], ["cnbsdk/python"], ["examples/hello"]]
