"""The env of bin/detect and bin/build (digest §3.7, §3.8, §7.6-7.7; checklist rules 5, 15-17)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnbsdk.buildpack.env import LayerEnv, Scope
from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.build_env import (
    build_env,
    detect_env,
    filtered_base_env,
    with_build_layer,
    with_buildpack_layers,
    with_env_dir,
    with_operator_env,
    with_overrides,
    with_user_env,
)
from cnbsdk.spec.layer_toml import LayerContentMetadata, LayerTypes
from cnbsdk.spec.target import Distro, Target
from tests.lifecycle.builders import located


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def layer(bp_dir: Path, name: str, *, build: bool = True, launch: bool = False) -> Path:
    """A layer directory with its toml written through the spec model."""
    bp_dir.mkdir(parents=True, exist_ok=True)
    LayerContentMetadata(types=LayerTypes(launch=launch, build=build)).write(
        bp_dir / f"{name}.toml"
    )
    directory = bp_dir / name
    directory.mkdir()
    return directory


def test_rule_5_base_env_is_filtered_to_the_allowed_variables() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/cnb",
        "HOSTNAME": "builder",
        "http_proxy": "http://proxy:3128",
        "HTTPS_PROXY": "http://proxy:3129",
        "no_proxy": "localhost",
        "CNB_STACK_ID": "io.buildpacks.stacks.jammy",
        "LD_LIBRARY_PATH": "/lib",
        "CPATH": "/inc",
        "PKG_CONFIG_PATH": "/pc",
        "LIBRARY_PATH": "/lib2",
        "CNB_PLATFORM_API": "0.15",
        "BP_NODE_VERSION": "18",
        "SECRET_TOKEN": "x",
        "LANG": "C.UTF-8",
    }
    filtered = filtered_base_env(environ)
    assert set(filtered) == set(environ) - {
        "CNB_PLATFORM_API",
        "BP_NODE_VERSION",
        "SECRET_TOKEN",
        "LANG",
    }
    assert filtered["PATH"] == "/usr/bin"


# -- suffix rules (one env dir) ---------------------------------------------------------------


def test_rule_16_no_suffix_means_override(tmp_path: Path) -> None:
    write(tmp_path / "GREETING", "hello")
    assert with_env_dir({"GREETING": "old"}, tmp_path)["GREETING"] == "hello"


def test_rule_16_override_suffix_replaces(tmp_path: Path) -> None:
    write(tmp_path / "JAVA_HOME.override", "/layers/jdk")
    assert with_env_dir({"JAVA_HOME": "/usr"}, tmp_path)["JAVA_HOME"] == "/layers/jdk"


def test_rule_16_default_sets_only_an_empty_variable(tmp_path: Path) -> None:
    write(tmp_path / "A.default", "new")
    write(tmp_path / "B.default", "new")
    write(tmp_path / "C.default", "new")
    env = with_env_dir({"A": "kept", "C": ""}, tmp_path)
    assert (env["A"], env["B"], env["C"]) == ("kept", "new", "new")


def test_rule_16_prepend_and_append_use_the_delim_of_the_same_dir(tmp_path: Path) -> None:
    write(tmp_path / "FLAGS.prepend", "-O2")
    write(tmp_path / "FLAGS.delim", " ")
    write(tmp_path / "LIST.append", "c")
    write(tmp_path / "LIST.delim", ",")
    env = with_env_dir({"FLAGS": "-g", "LIST": "a,b"}, tmp_path)
    assert env["FLAGS"] == "-O2 -g"
    assert env["LIST"] == "a,b,c"


def test_rule_16_prepend_append_without_delim_concatenate(tmp_path: Path) -> None:
    write(tmp_path / "P.prepend", "front")
    write(tmp_path / "A.append", "back")
    env = with_env_dir({"P": "mid", "A": "mid"}, tmp_path)
    assert (env["P"], env["A"]) == ("frontmid", "midback")


def test_rule_16_delim_is_not_put_before_an_empty_value(tmp_path: Path) -> None:
    write(tmp_path / "P.prepend", "/x")
    write(tmp_path / "P.delim", ":")
    assert with_env_dir({}, tmp_path)["P"] == "/x"


def test_rule_16_delim_of_another_dir_does_not_apply(tmp_path: Path) -> None:
    bp = tmp_path / "bp"
    directory = layer(bp, "tools")
    write(directory / "env" / "FLAGS.delim", ":")
    write(directory / "env.build" / "FLAGS.append", "b")
    env = with_buildpack_layers({"FLAGS": "a"}, bp)
    assert env["FLAGS"] == "ab"


def test_rule_16_unknown_suffix_is_ignored(tmp_path: Path) -> None:
    write(tmp_path / "X.unknown", "no")
    write(tmp_path / "Y.delim", ",")
    env = with_env_dir({"X": "yes"}, tmp_path)
    assert env == {"X": "yes"}


def test_rule_16_values_are_used_byte_for_byte(tmp_path: Path) -> None:
    write(tmp_path / "NL", "line\n")
    write(tmp_path / "RAW", b"caf\xe9 \xff")
    env = with_env_dir({}, tmp_path)
    assert env["NL"] == "line\n"
    assert os.fsencode(env["RAW"]) == b"caf\xe9 \xff"


def test_env_file_with_a_nul_byte_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "BAD", b"a\0b")
    with pytest.raises(BuildError) as raised:
        with_env_dir({}, tmp_path)
    assert str(raised.value).startswith(f"{path}: env file holds a NUL byte")


# -- layers of earlier buildpacks -------------------------------------------------------------


def test_rule_15_root_dirs_are_prepended_to_their_variables(tmp_path: Path) -> None:
    directory = layer(tmp_path / "bp", "tools")
    for child in ("bin", "lib", "include", "pkgconfig"):
        (directory / child).mkdir()
    base = {"PATH": "/usr/bin", "LD_LIBRARY_PATH": "/lib"}
    env = with_buildpack_layers(base, tmp_path / "bp")
    assert env["PATH"] == f"{directory}/bin:/usr/bin"
    assert env["LD_LIBRARY_PATH"] == f"{directory}/lib:/lib"
    assert env["LIBRARY_PATH"] == f"{directory}/lib"
    assert env["CPATH"] == f"{directory}/include"
    assert env["PKG_CONFIG_PATH"] == f"{directory}/pkgconfig"


def test_rule_15_layers_apply_in_name_order_each_prepending(tmp_path: Path) -> None:
    # digest §7.6: layers walk in ascending order and each prepends, so the last comes first.
    bp = tmp_path / "bp"
    first, second = layer(bp, "a-tools"), layer(bp, "b-tools")
    (first / "bin").mkdir()
    (second / "bin").mkdir()
    write(first / "env" / "WHO.default", "a")
    write(second / "env" / "WHO.default", "b")
    write(first / "env" / "SEEN.append", "a")
    write(second / "env" / "SEEN.append", "b")
    env = with_buildpack_layers({"PATH": "/usr/bin"}, bp)
    assert env["PATH"] == f"{second}/bin:{first}/bin:/usr/bin"
    assert env["WHO"] == "a"  # .default: the earlier layer wins
    assert env["SEEN"] == "ab"


def test_rule_15_later_buildpacks_come_first_and_default_keeps_the_earliest(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    jdk, maven = layer(one, "jdk"), layer(two, "maven")
    (jdk / "bin").mkdir()
    (maven / "bin").mkdir()
    write(jdk / "env" / "JAVA_TOOL.default", "from-one")
    write(maven / "env" / "JAVA_TOOL.default", "from-two")
    write(jdk / "env" / "LAST.override", "one")
    write(maven / "env" / "LAST.override", "two")
    env = with_buildpack_layers(with_buildpack_layers({"PATH": "/bin"}, one), two)
    assert env["PATH"] == f"{maven}/bin:{jdk}/bin:/bin"
    assert env["JAVA_TOOL"] == "from-one"
    assert env["LAST"] == "two"


def test_rule_15_env_build_applies_after_env(tmp_path: Path) -> None:
    directory = layer(tmp_path / "bp", "tools")
    write(directory / "env" / "MODE", "both")
    write(directory / "env.build" / "MODE", "build")
    write(directory / "env.launch" / "MODE", "launch")
    assert with_buildpack_layers({}, tmp_path / "bp")["MODE"] == "build"


def test_rule_15_only_build_layers_change_the_env(tmp_path: Path) -> None:
    bp = tmp_path / "bp"
    launch_only = layer(bp, "runtime", build=False, launch=True)
    (launch_only / "bin").mkdir()
    write(launch_only / "env" / "RUNTIME", "yes")
    no_types = bp / "restored"
    no_types.mkdir()
    LayerContentMetadata(types=None, metadata={"version": "1"}).write(bp / "restored.toml")
    write(no_types / "env" / "RESTORED", "yes")
    stray = bp / "stray"  # a directory without a toml is no layer
    write(stray / "env" / "STRAY", "yes")
    write(bp / "launch.toml", "")
    env = with_buildpack_layers({"PATH": "/bin"}, bp)
    assert env == {"PATH": "/bin"}


def test_rule_15_a_buildpack_sees_only_earlier_buildpacks_layers(tmp_path: Path) -> None:
    # The build loop: env for buildpack n is the base plus layers of buildpacks 1..n-1.
    one, two = tmp_path / "layers" / "one", tmp_path / "layers" / "two"
    write(layer(one, "l") / "env" / "FROM_ONE", "1")
    write(layer(two, "l") / "env" / "FROM_TWO", "2")
    platform = tmp_path / "platform"
    accumulated: dict[str, str] = {}
    seen = []
    for bp_layers, name in ((one, "one"), (two, "two")):
        env = build_env(
            accumulated,
            located(name),
            platform_dir=platform,
            build_config_dir=None,
            layers_dir=bp_layers,
            plan_path=tmp_path / "plan.toml",
        )
        seen.append(sorted(k for k in env if k.startswith("FROM_")))
        accumulated = with_buildpack_layers(accumulated, bp_layers)
    assert seen == [[], ["FROM_ONE"]]


# -- user and operator env --------------------------------------------------------------------


def test_rule_17_user_env_prepends_path_vars_and_overrides_the_rest(tmp_path: Path) -> None:
    write(tmp_path / "env" / "PATH", "/custom/bin")
    write(tmp_path / "env" / "LD_LIBRARY_PATH", "/custom/lib")
    write(tmp_path / "env" / "BP_NODE_VERSION", "20")
    write(tmp_path / "env" / "JAVA_OPTS.append", "literal")
    env = with_user_env({"PATH": "/usr/bin", "BP_NODE_VERSION": "18"}, tmp_path)
    assert env["PATH"] == "/custom/bin:/usr/bin"
    assert env["LD_LIBRARY_PATH"] == "/custom/lib"
    assert env["BP_NODE_VERSION"] == "20"
    # The platform env has no suffix rules: the file name is the variable name.
    assert env["JAVA_OPTS.append"] == "literal"


def test_rule_17_clear_env_skips_user_env_but_not_operator_env(tmp_path: Path) -> None:
    platform, config = tmp_path / "platform", tmp_path / "config"
    write(platform / "env" / "USER_VAR", "user")
    write(config / "env" / "OPERATOR_VAR", "operator")
    kept = with_overrides({}, clear_env=False, platform_dir=platform, build_config_dir=config)
    cleared = with_overrides({}, clear_env=True, platform_dir=platform, build_config_dir=config)
    assert kept == {"USER_VAR": "user", "OPERATOR_VAR": "operator"}
    assert cleared == {"OPERATOR_VAR": "operator"}


def test_rule_17_operator_env_without_suffix_is_a_default(tmp_path: Path) -> None:
    write(tmp_path / "env" / "BP_LOG_LEVEL", "debug")
    write(tmp_path / "env" / "BP_NEW", "set")
    write(tmp_path / "env" / "FORCED.override", "operator")
    write(tmp_path / "env" / "PATH.append", "/operator/bin")
    write(tmp_path / "env" / "PATH.delim", ":")
    env = with_operator_env(
        {"BP_LOG_LEVEL": "info", "FORCED": "user", "PATH": "/usr/bin"}, tmp_path
    )
    assert env["BP_LOG_LEVEL"] == "info"
    assert env["BP_NEW"] == "set"
    assert env["FORCED"] == "operator"
    assert env["PATH"] == "/usr/bin:/operator/bin"


def test_rule_17_operator_default_does_not_override_user_env(tmp_path: Path) -> None:
    platform, config = tmp_path / "platform", tmp_path / "config"
    write(platform / "env" / "BP_MODE", "user")
    write(config / "env" / "BP_MODE", "operator")
    env = with_overrides({}, clear_env=False, platform_dir=platform, build_config_dir=config)
    assert env["BP_MODE"] == "user"


# -- CNB_* inputs -----------------------------------------------------------------------------


def test_rule_5_detect_env_ends_with_the_cnb_inputs(tmp_path: Path) -> None:
    bp = located("acme/node", api="0.12", directory=tmp_path / "bp", clear_env=True)
    write(tmp_path / "platform" / "env" / "CNB_BUILD_PLAN_PATH", "/user/tries/to/override")
    target = Target(os="linux", arch="arm64", variant="v8", distros=(Distro("debian", "12"),))
    env = detect_env(
        {"PATH": "/usr/bin"},
        bp,
        platform_dir=tmp_path / "platform",
        build_config_dir=None,
        plan_path=tmp_path / "plan.toml",
        target=target,
        exec_env="test",
    )
    assert env == {
        "PATH": "/usr/bin",
        "CNB_BUILDPACK_DIR": str(tmp_path / "bp"),
        "CNB_PLATFORM_DIR": str(tmp_path / "platform"),
        "CNB_BUILD_PLAN_PATH": str(tmp_path / "plan.toml"),
        "CNB_TARGET_OS": "linux",
        "CNB_TARGET_ARCH": "arm64",
        "CNB_TARGET_ARCH_VARIANT": "v8",
        "CNB_TARGET_DISTRO_NAME": "debian",
        "CNB_TARGET_DISTRO_VERSION": "12",
        "CNB_EXEC_ENV": "test",
    }


def test_rule_5_build_env_has_own_layers_dir_and_plan_path(tmp_path: Path) -> None:
    env = build_env(
        {},
        located("a", api="0.10", directory=tmp_path / "bp"),
        platform_dir=tmp_path / "platform",
        build_config_dir=None,
        layers_dir=tmp_path / "layers" / "a",
        plan_path=tmp_path / "plan.toml",
        target=Target(os="linux", arch="amd64"),
        exec_env="production",
    )
    assert env["CNB_LAYERS_DIR"] == str(tmp_path / "layers" / "a")
    assert env["CNB_BP_PLAN_PATH"] == str(tmp_path / "plan.toml")
    assert "CNB_BUILD_PLAN_PATH" not in env
    assert "CNB_TARGET_DISTRO_NAME" not in env
    # CNB_EXEC_ENV is given only to Buildpack API 0.12 and later.
    assert "CNB_EXEC_ENV" not in env


def test_a_buildpack_applying_its_layer_env_sees_what_the_next_buildpack_gets(
    tmp_path: Path,
) -> None:
    """``LayerEnv.apply`` (the author's API) and the lifecycle's env files rules agree."""
    layer = tmp_path / "bp" / "tools"
    env = (
        LayerEnv()
        .override("JAVA_HOME", "/j")
        .default("LANG", "C.UTF-8")
        .default("EDITOR", "vi")
        .prepend("PATH", "/t/bin", delim=":")
        .append("FLAGS", "-O2")
        .append("EMPTY", "x", delim=",")
        .override("MODE", "build", scope=Scope.BUILD)
    )
    env.write(layer)
    base = {"PATH": "/usr/bin", "FLAGS": "-g", "EDITOR": "ed", "EMPTY": ""}
    applied = dict(LayerEnv.read(layer).apply(Scope.BUILD, dict(base)))
    assert applied == with_build_layer(base, layer)
    assert applied["PATH"] == "/t/bin:/usr/bin" and applied["FLAGS"] == "-g-O2"
    assert applied["EMPTY"] == "x" and applied["EDITOR"] == "ed"
