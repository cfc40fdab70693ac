"""Bad spec files, every kind ``cnbsdk validate`` knows plus stack definitions: each one is
refused with one ``error:`` line naming the file, exit 1, no traceback, nothing written.

Classes (issue #11): 1 size and range (deep nesting, long integers, huge files), 2 ids as
path components, 3 values that are not what they claim. In-process for speed; a few run
through the real ``cnbsdk`` executable in test_cli_inputs.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnbsdk.errors import CnbError
from cnbsdk.spec.files import KINDS
from cnbsdk.spec.toml_file import MAX_TOML_DEPTH
from cnbsdk.stacks.definition import StackDefinition
from tests.hardening.conftest import assert_one_line_error, listing, run_cli

# One valid file of each kind: every case below is one of these made bad.
VALID: dict[str, str] = {
    "buildpack": 'api = "0.10"\n[buildpack]\nid = "example/ok"\nversion = "1.0.0"\n'
    '[[targets]]\nos = "linux"\n',
    "launch": '[[processes]]\ntype = "web"\ncommand = ["serve"]\n',
    "build": '[[unmet]]\nname = "thing"\n',
    "store": '[metadata]\nkey = "value"\n',
    "layer": '[types]\nlaunch = true\n[metadata]\nversion = "1"\n',
    "build-plan": '[[provides]]\nname = "ruby"\n[[requires]]\nname = "ruby"\n',
    "buildpack-plan": '[[entries]]\nname = "ruby"\n',
    "exec-d": 'JAVA_TOOL_OPTIONS = "-Xmx512m"\n',
    "project": '[_]\nschema-version = "0.2"\n[io.buildpacks]\nbuilder = "example/builder:1"\n'
    '[[io.buildpacks.build.env]]\nname = "GOOD"\nvalue = "1"\n',
    "package": '[buildpack]\nuri = "."\n',
    "builder": '[build]\nimage = "example/build:1"\n[[run.images]]\nimage = "example/run:1"\n'
    '[[buildpacks]]\nuri = "./bp"\n[[order]]\n[[order.group]]\nid = "example/ok"\n'
    'version = "1.0.0"\n',
    "order": '[[order]]\n[[order.group]]\nid = "example/ok"\nversion = "1.0.0"\n',
    "group": '[[group]]\nid = "example/ok"\nversion = "1.0.0"\napi = "0.10"\n',
    "platform-plan": '[[entries]]\n[[entries.providers]]\nid = "example/ok"\n'
    'version = "1.0.0"\n[[entries.requires]]\nname = "ruby"\n',
    "run": '[[images]]\nimage = "example/run:1"\n',
    "stack": '[run-image]\nimage = "example/run:1"\n',
}

# Class 1: the same size/range abuse, in every kind.
DEEP = MAX_TOML_DEPTH * 30
GENERIC: dict[str, str] = {
    "deep-arrays": "x = " + "[" * DEEP + "]" * DEEP + "\n",
    "deep-inline-tables": "x = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
    "deep-dotted-key": ".".join(["k"] * DEEP) + " = 1\n",
    "deep-table-header": "[" + ".".join(["t"] * DEEP) + "]\n",
    "long-int": "x = " + "9" * 5000 + "\n",
    "long-negative-int": "x = -" + "1" * 4500 + "\n",
    "long-int-in-array": "x = [1, " + "9" * 4400 + "]\n",
    "not-toml": "{{{ this is not toml\n",
    "nul-byte": "x = 1\n\0\n",
    "unclosed-string": 'x = "never closed\n',
    "duplicate-key": "x = 1\nx = 2\n",
    "lone-surrogate-escape": 'x = "\\ud800"\n',
}


def _write(directory: Path, kind: str, text: str | bytes) -> Path:
    path = directory / f"{kind}.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _refused(tmp_path: Path, kind: str, text: str | bytes, contains: str = "") -> str:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    path = _write(work, kind, text)
    before = listing(work)
    line = assert_one_line_error(run_cli("validate", "--kind", kind, str(path)))
    assert str(path) in line, line
    assert contains in line, line
    assert listing(work) == before
    return line


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_valid_file_of_each_kind_validates(tmp_path: Path, kind: str) -> None:
    path = _write(tmp_path, kind, VALID[kind])
    result = run_cli("validate", "--kind", kind, str(path))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("case", sorted(GENERIC))
@pytest.mark.parametrize("kind", sorted(VALID))
def test_size_and_range_abuse_is_one_line_in_every_kind(
    tmp_path: Path, kind: str, case: str
) -> None:
    _refused(tmp_path, kind, VALID[kind] + GENERIC[case])


@pytest.mark.parametrize("kind", ["buildpack", "project", "builder"])
def test_not_utf8_and_too_large_files(tmp_path: Path, kind: str) -> None:
    _refused(tmp_path, kind, VALID[kind].encode() + b'x = "\xff\xfe"\n', "UTF-8")
    _refused(tmp_path, kind, VALID[kind] + "# " + "x" * (17 * 1024 * 1024) + "\n", "larger")


BAD_BUILDPACK_IDS = [
    "..",
    ".",
    "/etc",
    "a//b",
    "a/",
    "a/../b",
    "a/./b",
    "../x",
    "...",
    "./.",
    "x" * 256,
    "x" * 1_000_000,
    "a b",
    "a\0b",
    "a\u202eb",
    "app",
    "",
]


def _buildpack_toml(bp_id: str) -> str:
    return VALID["buildpack"].replace('"example/ok"', _toml_string(bp_id))


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\0", "\\u0000")
    return '"' + escaped.replace("\u202e", "\\u202E") + '"'


@pytest.mark.parametrize("bp_id", BAD_BUILDPACK_IDS, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("kind", ["buildpack", "order", "group", "builder", "platform-plan"])
def test_buildpack_ids_that_are_not_path_safe_are_refused(
    tmp_path: Path, kind: str, bp_id: str
) -> None:
    text = VALID[kind].replace('"example/ok"', _toml_string(bp_id))
    line = _refused(tmp_path, kind, text)
    assert len(line) < 600  # a megabyte id is not echoed whole


@pytest.mark.parametrize(
    "process_type", ["..", ".", "a/b", "x" * 256, "", "we b", "\u202eweb"], ids=repr
)
def test_process_types_that_are_not_path_safe_are_refused(
    tmp_path: Path, process_type: str
) -> None:
    text = VALID["launch"].replace('"web"', _toml_string(process_type))
    _refused(tmp_path, "launch", text, "process type")


@pytest.mark.parametrize(
    "stack_id", ["a b c", "..", "/etc", "a//b", "", "x" * 256, "a\u202eb", "*x"], ids=repr
)
def test_legacy_stack_ids_are_checked(tmp_path: Path, stack_id: str) -> None:
    builder = (
        f'[stack]\nid = {_toml_string(stack_id)}\nbuild-image = "example/build:1"\n'
        'run-image = "example/run:1"\n'
    )
    _refused(tmp_path, "builder", builder, "stack.id")
    buildpack = VALID["buildpack"] + f"[[stacks]]\nid = {_toml_string(stack_id)}\n"
    _refused(tmp_path, "buildpack", buildpack, "stacks[0].id")


BAD_ENV_NAMES = [
    "A=B",
    "../../x",
    "a/b",
    "A\0B",
    "A\u202eB",
    "A\u200fB",
    "A B",
    "",
    ".",
    "..",
    "x" * 256,
    "TAB\tNAME",
    "NEW\nLINE",
]


@pytest.mark.parametrize("name", BAD_ENV_NAMES, ids=repr)
def test_env_var_names_that_are_not_names_are_refused(tmp_path: Path, name: str) -> None:
    project = VALID["project"].replace('"GOOD"', _toml_string(name))
    _refused(tmp_path, "project", project, "name")
    builder = VALID["builder"] + f'[[build.env]]\nname = {_toml_string(name)}\nvalue = "v"\n'
    _refused(tmp_path, "builder", builder, "name")


def test_env_values_with_a_nul_byte_are_refused(tmp_path: Path) -> None:
    _refused(tmp_path, "project", VALID["project"].replace('"1"', '"a\\u0000b"'), "NUL")
    builder = VALID["builder"] + '[[build.env]]\nname = "N"\nvalue = "a\\u0000b"\n'
    _refused(tmp_path, "builder", builder, "NUL")


BAD_REFERENCES = [
    "docker://:::",
    "NOT A REF",
    "UPPER/case",
    "ex ample/run",
    "example/run:",
    "example/run@sha256:short",
    "https://example/run",
    "docker://nohost",
    "-leading/dash",
    "a" * 300,
    "oci:",
    "docker-archive:",
    "dir:/tmp/x",
]


@pytest.mark.parametrize("reference", BAD_REFERENCES, ids=lambda v: repr(v)[:30])
def test_image_references_that_do_not_parse_are_refused_by_validate(
    tmp_path: Path, reference: str
) -> None:
    ref = _toml_string(reference)
    builder_run = VALID["builder"].replace('"example/run:1"', ref)
    _refused(tmp_path, "builder", builder_run, "run.images[0].image")
    builder_build = VALID["builder"].replace('"example/build:1"', ref)
    _refused(tmp_path, "builder", builder_build, "build.image")
    _refused(tmp_path, "project", VALID["project"].replace('"example/builder:1"', ref), "builder")
    _refused(tmp_path, "run", VALID["run"].replace('"example/run:1"', ref), "images[0].image")
    _refused(tmp_path, "stack", VALID["stack"].replace('"example/run:1"', ref), "run-image")


@pytest.mark.parametrize(
    ("kind", "text", "contains"),
    [
        (
            "buildpack",
            'api = "0.10"\ntargets = "linux"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n',
            "targets",
        ),
        (
            "buildpack",
            'api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\ntargets = "linux"\n',
            "buildpack.targets",
        ),
        (
            "buildpack",
            'api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n'
            '[[buildpack.stacks]]\nid = "x"\n',
            "buildpack.stacks",
        ),
        ("builder", VALID["builder"] + 'targets = "linux"\n', "targets"),
        (
            "builder",
            '[build]\nimage = "b:1"\n[[run.images]]\nimage = "r:1"\n[[order]]\ngroup = []\n',
            "order[0].group",
        ),
        (
            "builder",
            '[build]\nimage = "b:1"\n[[run.images]]\nimage = "r:1"\n[[order]]\n',
            "order[0].group",
        ),
        ("order", "[[order]]\ngroup = []\n", "order[0].group"),
        (
            "buildpack",
            'api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n[[order]]\ngroup = []\n',
            "group",
        ),
        (
            "package",
            '[buildpack]\nuri = "."\n[[dependencies]]\nimage = "NOT A REF"\n',
            "dependencies[0].image",
        ),
        (
            "builder",
            VALID["builder"] + '[[buildpacks]]\nimage = "docker://:::"\n',
            "buildpacks[1].image",
        ),
        (
            "builder",
            VALID["builder"] + '[[run.images]]\nimage = "r:1"\nmirrors = ["NOT A REF"]\n',
            "run.images[1].mirrors[0]",
        ),
        ("layer", '[types]\nlaunch = "yes"\n', "types.launch"),
        ("launch", '[[processes]]\ntype = "web"\ncommand = "serve"\n', "command"),
        ("launch", '[[slices]]\npaths = "x"\n', "paths"),
        ("buildpack", 'api = "99.0"\n[buildpack]\nid = "a/b"\nversion = "1.0.0"\n', "api"),
        ("buildpack", 'api = "0.10"\n[buildpack]\nid = "a/b"\nversion = "01.0.0"\n', "version"),
        ("store", "metadata = 1\n", "metadata"),
        ("exec-d", "A = 1\n", "A"),
        ("project", '[_]\nschema-version = "9.9"\n', "schema-version"),
        ("group", '[[group]]\nid = "a/b"\nversion = "1.0.0"\napi = 10\n', "api"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 25 else None,
)
def test_values_that_are_not_what_they_claim_are_refused(
    tmp_path: Path, kind: str, text: str, contains: str
) -> None:
    _refused(tmp_path, kind, text, contains)


# -- stack definitions (cnbsdk.stacks.definition, read only) ---------------------------------

STACK_DEFINITION_CASES = {
    "deep-arrays": "x = " + "[" * DEEP + "]" * DEEP + "\n",
    "long-int": "x = " + "7" * 5000 + "\n",
    "deep-dotted-key": ".".join(["k"] * DEEP) + " = 1\n",
    "not-toml": "[[[\n",
    "nul": "id = 1\n\0",
    "wrong-types": "id = 42\n",
    "empty-table-array": "[[build]]\n",
    "deep-inline": "x = " + "{a = " * DEEP + "1" + "}" * DEEP + "\n",
}


@pytest.mark.parametrize("case", sorted(STACK_DEFINITION_CASES))
def test_stack_definitions_are_read_with_one_line_errors(tmp_path: Path, case: str) -> None:
    path = tmp_path / "stack-definition.toml"
    path.write_text(STACK_DEFINITION_CASES[case], encoding="utf-8")
    with pytest.raises(CnbError) as raised:
        StackDefinition.read(path)
    assert "\n" not in str(raised.value)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ('"A=B"', '"x"'),
        ('"../../x"', '"x"'),
        ('"A\\u0000B"', '"x"'),
        ('"A\\u202eB"', '"x"'),
        ('"A B"', '"x"'),
        ('"."', '"x"'),
        ("OK", '"a\\u0000b"'),
    ],
)
def test_stack_env_names_and_values_are_checked(tmp_path: Path, name: str, value: str) -> None:
    from cnbsdk.stacks import shipped_stack

    text = shipped_stack().read_text()
    text = text.replace("[run]\n", f"[run]\nenv = {{ {name} = {value} }}\n", 1)
    path = tmp_path / "stack-definition.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CnbError) as raised:
        StackDefinition.read(path)
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and "run.env." in message


# -- anything at all -------------------------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    text=st.one_of(
        st.text(max_size=200),
        st.builds(
            lambda depth, opener: "x = " + opener * depth,
            st.integers(1, 5000),
            st.sampled_from(["[", "{a = ", "[{a = "]),
        ),
        st.builds(lambda digits: f"x = {digits}", st.from_regex(r"[1-9][0-9]{4000,6000}")),
    ),
)
def test_any_text_validates_or_fails_on_one_line(tmp_path: Path, kind: str, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = run_cli("validate", "--kind", kind, str(path))
    if result.exit_code != 0:
        assert_one_line_error(result)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("buildpack", VALID["buildpack"].replace('"0.10"', '"0.' + "9" * 5000 + '"')),
        ("buildpack", VALID["buildpack"].replace('"1.0.0"', '"1.0.' + "9" * 5000 + '"')),
        ("group", VALID["group"].replace('"0.10"', '"' + "9" * 5000 + '"')),
        ("buildpack", VALID["buildpack"].replace('"example/ok"', '"' + "é" * 300 + '"')),
    ],
    ids=["api", "version", "group-api", "unicode-id"],
)
def test_huge_values_are_refused_without_being_echoed_whole(
    tmp_path: Path, kind: str, text: str
) -> None:
    line = _refused(tmp_path, kind, text)
    assert len(line) < 600, len(line)


def test_a_dependency_version_of_5000_digits_is_no_traceback(tmp_path: Path) -> None:
    from cnbsdk.deps.versions import Version

    assert Version.parse("9" * 5000) is None
    assert Version.parse("1." + "9" * 19) is None
