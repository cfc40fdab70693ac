"""Layer env files: names, byte-exact contents, and applying them like the lifecycle does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnbsdk.buildpack import BuildpackError, LayerEnv, Scope


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_every_scope_and_behaviour_gets_its_file(tmp_path: Path) -> None:
    env = (
        LayerEnv()
        .override("JAVA_HOME", "/layers/jdk")
        .default("NODE_ENV", "production", scope=Scope.LAUNCH)
        .prepend("PATH", "/layers/jdk/bin", delim=":", scope=Scope.BUILD)
        .append("JAVA_OPTS", "-Xss1m", delim=" ", scope=Scope.for_process("web"))
        .append("CLASSPATH", "/x.jar")
    )
    env.write(tmp_path)

    assert files_under(tmp_path) == {
        "env/JAVA_HOME.override": b"/layers/jdk",
        "env.launch/NODE_ENV.default": b"production",
        "env.build/PATH.delim": b":",
        "env.build/PATH.prepend": b"/layers/jdk/bin",
        "env.launch/web/JAVA_OPTS.delim": b" ",
        "env.launch/web/JAVA_OPTS.append": b"-Xss1m",
        "env/CLASSPATH.append": b"/x.jar",
    }


def test_values_are_written_byte_for_byte(tmp_path: Path) -> None:
    LayerEnv().override("MOTD", "line one\nline two\n  ").override("EMPTY", "").write(tmp_path)
    assert (tmp_path / "env" / "MOTD.override").read_bytes() == b"line one\nline two\n  "
    assert (tmp_path / "env" / "EMPTY.override").read_bytes() == b""


def test_read_gives_back_what_was_written(tmp_path: Path) -> None:
    env = LayerEnv().override("A", "1").prepend("PATH", "/bin", ":", Scope.for_process("web"))
    env.write(tmp_path)
    assert LayerEnv.read(tmp_path) == env


def test_a_file_without_suffix_reads_as_override(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "FOO").write_text("bar")
    (tmp_path / "env" / "IGNORED.weird").write_text("x")
    assert LayerEnv.read(tmp_path) == LayerEnv().override("FOO", "bar")


@pytest.mark.parametrize("name", ["A.B", "", "A=B", "a/b"])
def test_bad_variable_names_are_refused(name: str) -> None:
    with pytest.raises(BuildpackError, match="invalid environment variable name"):
        LayerEnv().override(name, "x")


def test_override_replaces() -> None:
    environ = {"A": "old"}
    LayerEnv().override("A", "new").apply(Scope.BUILD, environ)
    assert environ == {"A": "new"}


def test_default_only_sets_unset_or_empty() -> None:
    environ = {"SET": "kept", "EMPTY": ""}
    LayerEnv().default("SET", "x").default("EMPTY", "y").default("NEW", "z").apply(
        Scope.BUILD, environ
    )
    assert environ == {"SET": "kept", "EMPTY": "y", "NEW": "z"}


def test_prepend_and_append_use_the_delimiter() -> None:
    environ = {"PATH": "/usr/bin", "OPTS": "-a"}
    env = LayerEnv().prepend("PATH", "/layer/bin", delim=":").append("OPTS", "-b", delim=" ")
    env.apply(Scope.BUILD, environ)
    assert environ == {"PATH": "/layer/bin:/usr/bin", "OPTS": "-a -b"}


def test_without_a_delim_file_values_are_concatenated() -> None:
    environ = {"PATH": "/usr/bin", "OPTS": "-a"}
    LayerEnv().prepend("PATH", "/layer/bin").append("OPTS", "-b").apply(Scope.BUILD, environ)
    assert environ == {"PATH": "/layer/bin/usr/bin", "OPTS": "-a-b"}


def test_no_delimiter_is_added_to_an_empty_value() -> None:
    environ: dict[str, str] = {}
    LayerEnv().prepend("P", "x", delim=":").append("A", "y", delim=":").apply(Scope.BUILD, environ)
    assert environ == {"P": "x", "A": "y"}


def test_scopes_apply_in_lifecycle_order() -> None:
    env = (
        LayerEnv()
        .override("V", "all")
        .append("V", "+build", scope=Scope.BUILD)
        .append("V", "+launch", scope=Scope.LAUNCH)
        .append("V", "+web", scope=Scope.for_process("web"))
    )
    assert env.apply(Scope.ALL, {}) == {"V": "all"}
    assert env.apply(Scope.BUILD, {}) == {"V": "all+build"}
    assert env.apply(Scope.LAUNCH, {}) == {"V": "all+launch"}
    assert env.apply(Scope.for_process("web"), {}) == {"V": "all+launch+web"}


def test_a_delim_applies_only_within_its_directory() -> None:
    env = LayerEnv().delimiter("P", ":").append("P", "b", scope=Scope.BUILD)
    assert env.apply(Scope.BUILD, {"P": "a"}) == {"P": "ab"}


def test_apply_defaults_to_the_running_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNBSDK_TEST_PATH", "/usr/bin")
    LayerEnv().prepend("CNBSDK_TEST_PATH", "/tool/bin", ":").apply(Scope.BUILD)
    assert os.environ["CNBSDK_TEST_PATH"] == "/tool/bin:/usr/bin"


def test_applying_files_written_by_the_lifecycle_rules_matches(tmp_path: Path) -> None:
    """Within one directory files apply in name order, as the lifecycle reads them."""
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "X.append").write_text("a")
    (tmp_path / "env" / "X.override").write_text("o")
    (tmp_path / "env" / "X.prepend").write_text("p")
    # append, then override, then prepend: "p" + "o"
    assert LayerEnv.read(tmp_path).apply(Scope.BUILD, {"X": "start"}) == {"X": "po"}


def test_describe_for_the_build_log() -> None:
    env = (
        LayerEnv()
        .default("NODE_ENV", "production", scope=Scope.LAUNCH)
        .prepend("PATH", "/layer/bin", delim=":")
        .append("OPTS", "-x", delim=" ", scope=Scope.BUILD)
    )
    assert env.describe(Scope.LAUNCH) == {"PATH": "/layer/bin:$PATH", "NODE_ENV": "production"}
    assert env.describe(Scope.BUILD) == {"PATH": "/layer/bin:$PATH", "OPTS": "$OPTS -x"}


def test_writing_the_same_env_again_leaves_the_files_untouched(tmp_path: Path) -> None:
    """A reused layer's env written again on every build keeps its files (same inode and
    times), so export knows the layer unchanged; a changed value is written."""
    env = LayerEnv().override("NODE_HOME", "/layers/node").prepend("PATH", "/x", delim=":")
    paths = env.write(tmp_path)
    before = [os.stat(p) for p in paths]
    assert env.write(tmp_path) == paths
    assert [os.stat(p) for p in paths] == before

    LayerEnv().override("NODE_HOME", "/layers/other").write(tmp_path)
    assert (tmp_path / "env" / "NODE_HOME.override").read_text() == "/layers/other"
