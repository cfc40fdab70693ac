"""Declared configuration (platform env, process env, default) and the shared log style."""

from __future__ import annotations

import io

import pytest

from cnbsdk.buildpack import BuildpackError, ConfigurationResolver, Logger
from cnbsdk.spec.buildpack_toml import Configuration

DECLARED = [
    Configuration(
        name="BP_NODE_VERSION", default="22", description="the Node.js version", build=True
    ),
    Configuration(name="BP_DEBUG", default="false", description="debug output"),
    Configuration(name="BPL_HEAP", default="", description="heap at launch", launch=True),
]


def test_platform_env_wins_over_process_env_over_default() -> None:
    resolver = ConfigurationResolver(
        DECLARED,
        platform_env={"BP_NODE_VERSION": "20"},
        environ={"BP_NODE_VERSION": "18", "BP_DEBUG": "yes"},
    )
    assert resolver.resolve("BP_NODE_VERSION").source == "platform"
    assert resolver.get("BP_NODE_VERSION") == "20"
    assert resolver.get("BP_DEBUG") == "yes" and resolver.bool("BP_DEBUG") is True
    assert resolver.get("BPL_HEAP") == "" and not resolver.is_set("BPL_HEAP")


def test_undeclared_names_fail_naming_buildpack_toml() -> None:
    resolver = ConfigurationResolver(DECLARED, {}, {}, descriptor_file="/bp/buildpack.toml")
    with pytest.raises(BuildpackError) as raised:
        resolver.get("BP_NODE_VERSON")
    assert str(raised.value).startswith(
        "/bp/buildpack.toml: metadata.configurations: configuration BP_NODE_VERSON is not declared"
    )


def test_bool_refuses_other_words() -> None:
    resolver = ConfigurationResolver(DECLARED, {}, {"BP_DEBUG": "maybe"})
    with pytest.raises(BuildpackError, match="BP_DEBUG: expected true or false, got 'maybe'"):
        resolver.bool("BP_DEBUG")


def test_configuration_table() -> None:
    out = io.StringIO()
    ConfigurationResolver(DECLARED, {}, {"BPL_HEAP": "1G"}).log_table(Logger({}, stream=out))
    assert out.getvalue().splitlines() == [
        "  Build Configuration:",
        "    $BP_NODE_VERSION  22     the Node.js version",
        "    $BP_DEBUG         false  debug output",
        "  Launch Configuration:",
        "    $BPL_HEAP  1G  heap at launch",
    ]


def test_log_levels_indent_and_debug_needs_bp_log_level() -> None:
    out = io.StringIO()
    logger = Logger({}, stream=out)
    logger.title("Node Engine 1.0.0")
    logger.process("process")
    logger.subprocess("sub")
    logger.action("action")
    logger.detail("detail")
    logger.debug("hidden")
    assert out.getvalue() == "Node Engine 1.0.0\n  process\n    sub\n      action\n        detail\n"

    debug_out = io.StringIO()
    Logger({"BP_LOG_LEVEL": "debug"}, stream=debug_out).debug("shown")
    assert debug_out.getvalue() == "  shown\n"


def test_standard_phrases() -> None:
    out = io.StringIO()
    logger = Logger({}, stream=out)
    logger.selected_dependency("Node Engine", "18.1.0", "package.json")
    logger.candidates([("BP_NODE_VERSION", "~18"), ("package.json", "18.x")])
    logger.env_vars("Configuring launch environment", {"NODE_ENV": "production", "PATH": "/x"})
    logger.reusing_layer("node", "version 18.1.0 unchanged")
    logger.rebuilding_layer("node_modules", "package-lock.json changed")
    assert out.getvalue().splitlines() == [
        "  Selected Node Engine version (using package.json): 18.1.0",
        "  Candidate version sources (in priority order):",
        '    BP_NODE_VERSION -> "~18"',
        '    package.json    -> "18.x"',
        "  Configuring launch environment",
        '    NODE_ENV -> "production"',
        '    PATH     -> "/x"',
        "  Reusing layer 'node' (version 18.1.0 unchanged)",
        "  Rebuilding layer 'node_modules': package-lock.json changed",
    ]
