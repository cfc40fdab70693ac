"""Build as the lifecycle calls it and what it must find afterwards (digest §3, §8)."""

from __future__ import annotations

import json
import os
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PLAN = '[[entries]]\nname = "hello"\n[entries.metadata]\nversion = "1.2"\n'


def test_section_3_1_build_exits_0_and_gets_its_plan_layers_dir_and_app_cwd(lifecycle) -> None:
    run = lifecycle.build({}, plan=PLAN, record=True)
    assert run.exit_code == 0, run.stderr
    seen = run.seen
    assert seen["cwd"] == str(run.app)
    assert seen["plan"] == [{"name": "hello", "metadata": {"version": "1.2"}}]
    assert seen["argv"][1:] == [str(run.layers), seen["platform_dir"], str(run.plan_path)]


def test_section_3_1_build_error_exits_non_zero_with_one_line(lifecycle) -> None:
    run = lifecycle.build({"build": {"outcome": "error"}})
    assert run.exit_code != 0
    assert run.stderr == "error: conformance.json says error\n"


def test_rule_12_build_writes_only_inside_its_own_layers_dir(lifecycle) -> None:
    run = lifecycle.build(
        {
            "build": {
                "layers": [{"name": "tool", "launch": True, "files": {"bin/x": "x"}}],
                "processes": [{"type": "web", "command": ["x"]}],
                "store": {"k": "v"},
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    assert [p.name for p in run.layers_root.iterdir()] == ["conformance_everything"]
    assert sorted(p.name for p in run.layers.iterdir()) == [
        "launch.toml",
        "store.toml",
        "tool",
        "tool.toml",
    ]


def test_rule_13_layer_flags_are_written_only_in_the_types_table(lifecycle) -> None:
    run = lifecycle.build(
        {"build": {"layers": [{"name": "dep", "build": True, "cache": True, "metadata": {"v": 1}}]}}
    )
    assert run.exit_code == 0, run.stderr
    assert run.toml("dep.toml") == {
        "types": {"launch": False, "build": True, "cache": True},
        "metadata": {"v": 1},
    }


def test_rule_13_a_restored_toml_without_types_gets_its_types_written_again(lifecycle) -> None:
    instructions = {
        "build": {"layers": [{"name": "dep", "launch": True, "cache": True, "metadata": {"v": 1}}]}
    }
    first = lifecycle.build(instructions)
    # What the restorer leaves: the toml without [types], the contents from the cache.
    toml = first.layers / "dep.toml"
    restored = {k: v for k, v in tomllib.loads(toml.read_text()).items() if k != "types"}
    toml.write_text("[metadata]\nv = 1\n")
    assert "types" not in tomllib.loads(toml.read_text()) and restored == {"metadata": {"v": 1}}
    again = lifecycle.build(instructions, layers_root=first.layers_root)
    assert again.exit_code == 0, again.stderr
    assert "Reusing layer 'dep'" in again.stdout
    assert again.toml("dep.toml")["types"] == {"launch": True, "build": False, "cache": True}


def test_rule_14_a_layer_with_all_flags_false_says_so_in_types(lifecycle) -> None:
    run = lifecycle.build({"build": {"layers": [{"name": "scratch"}]}})
    assert run.exit_code == 0, run.stderr
    assert run.toml("scratch.toml")["types"] == {"launch": False, "build": False, "cache": False}


@pytest.mark.parametrize("name", ["build", "launch", "store"])
def test_section_3_1_layers_named_build_launch_or_store_are_refused(lifecycle, name) -> None:
    run = lifecycle.build({"build": {"layers": [{"name": name, "launch": True}]}})
    assert run.exit_code != 0
    assert "reserved" in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (run.layers / name).exists()


def test_rule_16_env_file_without_suffix_means_override(lifecycle, tmp_path) -> None:
    record = tmp_path / "env.json"
    instructions = {
        "build": {
            "layers": [
                {
                    "name": "dep",
                    "cache": True,
                    "launch": True,
                    "env": [{"op": "override", "name": "WRITTEN", "value": "w"}],
                    "record_env": str(record),
                }
            ]
        }
    }
    first = lifecycle.build(instructions)
    assert first.exit_code == 0, first.stderr
    # written overrides carry the explicit suffix the lifecycle also reads as override
    assert (first.layers / "dep" / "env" / "WRITTEN.override").read_text() == "w"
    # a restored file without suffix is read back as an override
    (first.layers / "dep" / "env" / "RESTORED").write_text("r")
    (first.layers / "dep.toml").write_text("")
    again = lifecycle.build(instructions, layers_root=first.layers_root)
    assert again.exit_code == 0, again.stderr
    assert json.loads(record.read_text())["RESTORED.override"] == "override"


def test_rule_16_env_file_contents_are_raw_without_a_trailing_newline(lifecycle) -> None:
    value = "two\nlines"
    run = lifecycle.build(
        {
            "build": {
                "layers": [
                    {
                        "name": "dep",
                        "launch": True,
                        "env": [
                            {"op": "override", "name": "RAW", "value": value},
                            {"op": "default", "name": "SPACED", "value": " padded "},
                        ],
                    }
                ]
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    assert (run.layers / "dep" / "env" / "RAW.override").read_bytes() == value.encode()
    assert (run.layers / "dep" / "env" / "SPACED.default").read_bytes() == b" padded "


def test_rule_16_prepend_and_append_write_their_delim_in_the_same_dir(lifecycle) -> None:
    run = lifecycle.build(
        {
            "build": {
                "layers": [
                    {
                        "name": "dep",
                        "build": True,
                        "env": [
                            {
                                "op": "prepend",
                                "name": "PATHLIKE",
                                "value": "/a",
                                "delim": ":",
                                "scope": "build",
                            },
                            {
                                "op": "append",
                                "name": "FLAGS",
                                "value": "-x",
                                "delim": " ",
                                "scope": "launch",
                            },
                            {"op": "prepend", "name": "JOINED", "value": "pre"},
                        ],
                    }
                ]
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    layer = run.layers / "dep"
    files = {str(p.relative_to(layer)): p.read_text() for p in layer.rglob("*") if p.is_file()}
    assert files == {
        "env.build/PATHLIKE.prepend": "/a",
        "env.build/PATHLIKE.delim": ":",
        "env.launch/FLAGS.append": "-x",
        "env.launch/FLAGS.delim": " ",
        "env/JOINED.prepend": "pre",  # no .delim: the lifecycle concatenates (digest §7.7)
    }


def test_section_3_7_env_scopes_map_to_env_build_launch_and_process_dirs(lifecycle) -> None:
    scopes = {
        "all": "env",
        "build": "env.build",
        "launch": "env.launch",
        "process:web": "env.launch/web",
    }
    run = lifecycle.build(
        {
            "build": {
                "layers": [
                    {
                        "name": "dep",
                        "launch": True,
                        "build": True,
                        "env": [
                            {"op": "override", "name": f"V{i}", "value": scope, "scope": scope}
                            for i, scope in enumerate(scopes)
                        ],
                    }
                ]
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    for i, (scope, directory) in enumerate(scopes.items()):
        assert (run.layers / "dep" / directory / f"V{i}.override").read_text() == scope


def test_rule_18_launch_toml_commands_are_arrays_without_direct(lifecycle) -> None:
    run = lifecycle.build(
        {
            "build": {
                "processes": [
                    {
                        "type": "web",
                        "command": ["python3", "-m", "http.server"],
                        "args": ["8080"],
                        "default": True,
                        "working_dir": "/workspace/sub",
                    },
                    {"type": "worker", "command": ["bash", "-c", "run-worker"]},
                ],
                "labels": {"org.example.built-by": "conformance"},
                "slices": [["public/**", "*.html"]],
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    launch = run.toml("launch.toml")
    assert launch["processes"] == [
        {
            "type": "web",
            "command": ["python3", "-m", "http.server"],
            "args": ["8080"],
            "default": True,
            "working-dir": "/workspace/sub",
        },
        {"type": "worker", "command": ["bash", "-c", "run-worker"]},
    ]
    assert all("direct" not in p for p in launch["processes"])
    assert launch["labels"] == [{"key": "org.example.built-by", "value": "conformance"}]
    assert launch["slices"] == [{"paths": ["public/**", "*.html"]}]


def test_rule_19_two_default_processes_fail_the_build(lifecycle) -> None:
    run = lifecycle.build(
        {
            "build": {
                "processes": [
                    {"type": "web", "command": ["a"], "default": True},
                    {"type": "worker", "command": ["b"], "default": True},
                ]
            }
        }
    )
    assert run.exit_code != 0
    assert "default" in run.stderr and len(run.stderr.splitlines()) == 1
    assert not (run.layers / "launch.toml").exists()


def test_rule_11_unmet_entries_are_written_to_build_toml(lifecycle) -> None:
    run = lifecycle.build({"build": {"unmet": ["hello"]}}, plan=PLAN)
    assert run.exit_code == 0, run.stderr
    assert run.toml("build.toml") == {"unmet": [{"name": "hello"}]}


def test_section_3_2_an_unmet_name_missing_from_the_plan_fails_the_build(lifecycle) -> None:
    run = lifecycle.build({"build": {"unmet": ["nobody"]}}, plan=PLAN)
    assert run.exit_code != 0
    assert "nobody" in run.stderr
    assert not (run.layers / "build.toml").exists()


def test_rule_21_sbom_files_have_the_spec_names(lifecycle) -> None:
    run = lifecycle.build(
        {
            "build": {
                "layers": [{"name": "dep", "launch": True, "sbom": "cdx"}],
                "launch_sbom": ["cdx"],
                "build_sbom": ["spdx"],
            }
        }
    )
    assert run.exit_code == 0, run.stderr
    names = sorted(p.name for p in run.layers.glob("*.sbom.*"))
    assert names == ["build.sbom.spdx.json", "dep.sbom.cdx.json", "launch.sbom.cdx.json"]
    document = json.loads((run.layers / "dep.sbom.cdx.json").read_text())
    assert document["bomFormat"] == "CycloneDX"


def test_rule_21_an_sbom_format_missing_from_sbom_formats_fails_the_build(lifecycle) -> None:
    run = lifecycle.build({"build": {"launch_sbom": ["syft"]}})
    assert run.exit_code != 0
    assert "sbom-formats" in run.stderr
    assert not list(run.layers.glob("*.sbom.*"))


def test_rule_35_store_toml_is_written_and_read_back_by_the_next_build(lifecycle) -> None:
    first = lifecycle.build({"build": {"store": {"runs": 1, "nested": {"a": "b"}}}})
    assert first.exit_code == 0, first.stderr
    assert first.toml("store.toml") == {"metadata": {"runs": 1, "nested": {"a": "b"}}}
    again = lifecycle.build({}, layers_root=first.layers_root, record=True)
    assert again.seen["store"] == {"runs": 1, "nested": {"a": "b"}}


def test_section_3_9_exec_d_programs_are_executable_in_the_layer(lifecycle) -> None:
    script = "#!/bin/sh\necho 'GREETING = \"hi\"' >&3\n"
    run = lifecycle.build(
        {"build": {"layers": [{"name": "dep", "launch": True, "exec_d": script}]}}
    )
    assert run.exit_code == 0, run.stderr
    program = run.layers / "dep" / "exec.d" / "setup"
    assert os.access(program, os.X_OK)
    assert program.read_text() == script


def test_rule_17_platform_env_files_are_read_byte_for_byte_from_cnb_platform_dir(
    lifecycle,
) -> None:
    run = lifecycle.build({}, platform_env={"BP_GREETING": "hi\n"}, record=True)
    assert run.exit_code == 0, run.stderr
    assert run.seen["platform_env"] == {"BP_GREETING": "hi\n"}
    # injecting them into the process env is the lifecycle's job, not the buildpack's
    assert "BP_GREETING" not in run.seen["environ"]
