"""The compiled launcher (cnbsdk/lifecycle/launcher/launcher.c) run on the host.

Each test lays out an app image's /layers and /workspace in a temp dir, writes
<layers>/config/metadata.toml the way the exporter does (tomli_w), points CNB_LAYERS_DIR and
CNB_APP_DIR at them and starts the real launcher binary, either as ``launcher`` or through a
``<tmp>/cnb/process/<type>`` symlink so that argv[0] selects the process.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cnbsdk.errors import BuildError
from cnbsdk.lifecycle.launcher import launcher_path
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.metadata_toml import MetadataToml

LAUNCH_FAILED = 82


@pytest.fixture(scope="session")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return launcher_path(cache_dir=tmp_path_factory.mktemp("launcher-cache"))


@dataclass
class Image:
    """An app image's launch side laid out on the host."""

    root: Path
    launcher: Path
    buildpacks: list[dict[str, str]] = field(default_factory=list)
    processes: list[dict[str, object]] = field(default_factory=list)

    @property
    def layers(self) -> Path:
        return self.root / "layers"

    @property
    def app(self) -> Path:
        return self.root / "workspace"

    def buildpack(self, bp_id: str, api: str = "0.10") -> None:
        self.buildpacks.append({"id": bp_id, "version": "1.0.0", "api": api})

    def process(self, type_: str, command: Sequence[str], bp_id: str, **more: object) -> None:
        entry: dict[str, object] = {
            "type": type_,
            "command": list(command),
            "args": [],
            "direct": True,
            "buildpack-id": bp_id,
        }
        entry.update({key.replace("_", "-"): value for key, value in more.items()})
        self.processes.append(entry)

    def file(self, relative: str, content: bytes | str, mode: int = 0o644) -> Path:
        """A file below the layers dir, e.g. ``a_bp/one/env/FOO.prepend``."""
        path = self.layers / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        path.chmod(mode)
        return path

    def write_metadata(self, platform_api: str = "0.13") -> str:
        """metadata.toml written by the exporter's own model (MetadataToml, via tomli_w)."""
        path = self.layers / "config" / "metadata.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"buildpacks": self.buildpacks, "processes": self.processes}
        model = MetadataToml.from_dict(document, file=str(path))
        model.write(path, platform_api=ApiVersion.parse(platform_api))
        return path.read_text(encoding="utf-8")

    def run(
        self,
        args: Sequence[str] = (),
        *,
        process: str | None = None,
        env: Mapping[str, str] | None = None,
        platform_api: str = "0.13",
    ) -> subprocess.CompletedProcess[bytes]:
        self.write_metadata(platform_api)
        return subprocess.run(
            [str(self.entrypoint(process)), *args],
            env=self.env(env, platform_api),
            capture_output=True,
            timeout=30,
            check=False,
        )

    def entrypoint(self, process: str | None) -> Path:
        if process is None:
            return self.launcher
        link = self.root / "cnb" / "process" / process
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(self.launcher)
        return link

    def env(self, extra: Mapping[str, str] | None, platform_api: str = "0.13") -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "CNB_LAYERS_DIR": str(self.layers),
            "CNB_APP_DIR": str(self.app),
            "CNB_PLATFORM_API": platform_api,
            **(extra or {}),
        }


@pytest.fixture
def image(tmp_path: Path, launcher: Path) -> Image:
    built = Image(tmp_path, launcher)
    built.layers.mkdir()
    built.app.mkdir()
    return built


def launch_env(result: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    """What ``env -0`` printed, byte for byte (surrogateescape keeps non-UTF-8 bytes)."""
    assert result.returncode == 0, result.stderr.decode()
    entries = result.stdout.split(b"\0")[:-1]
    pairs = (entry.decode("utf-8", "surrogateescape").split("=", 1) for entry in entries)
    return dict(pairs)


# ---------------------------------------------------------------- environment files


def test_env_suffix_rules_across_two_buildpacks_and_two_layers(image: Image) -> None:
    image.buildpack("acme/first")
    image.buildpack("acme/second")
    # override: later buildpacks and later layers win
    image.file("acme_first/a1/env/OVR", "first-a1")
    image.file("acme_first/a2/env/OVR.override", "first-a2")
    image.file("acme_second/b1/env.launch/OVR", "second-b1")
    # default: the earliest value stays, an empty container value counts as unset
    image.file("acme_first/a2/env/DEF.default", "first-a2")
    image.file("acme_second/b1/env/DEF.default", "second-b1")
    image.file("acme_first/a1/env/KEEP.default", "never")
    # prepend: later content goes in front, with the .delim of the same directory
    for layer in ("acme_first/a1", "acme_first/a2", "acme_second/b1"):
        image.file(f"{layer}/env/LIST.prepend", layer.rsplit("/", 1)[1])
        image.file(f"{layer}/env/LIST.delim", ":")
    # append: a directory without .delim concatenates with nothing in between
    image.file("acme_first/a1/env/APP.append", "x")
    image.file("acme_first/a1/env/APP.delim", ",")
    image.file("acme_first/a2/env/APP.append", "y")
    image.file("acme_second/b2/env.launch/APP.append", "z")
    image.file("acme_second/b2/env.launch/APP.delim", ";")
    # unknown suffixes are not modifications
    image.file("acme_second/b2/env/OVR.bogus", "ignored")
    image.file("acme_second/b2/env/OVR.override.bak", "ignored")
    # within a layer: env/ then env.launch/
    image.file("acme_first/a1/env/ORDER", "env")
    image.file("acme_first/a1/env.launch/ORDER", "env.launch")
    # layers never exported are not read
    image.file("acme_second/b3.ignore/env/OVR", "ignored")

    env = launch_env(
        image.run(["--", "env", "-0"], env={"LIST": "base", "DEF": "", "KEEP": "container"})
    )

    assert env["OVR"] == "second-b1"
    assert env["DEF"] == "first-a2"
    assert env["KEEP"] == "container"
    assert env["LIST"] == "b1:a2:a1:base"
    assert env["APP"] == "xy;z"
    assert env["ORDER"] == "env.launch"


def test_values_are_taken_byte_for_byte(image: Image) -> None:
    image.buildpack("acme/bytes")
    image.file("acme_bytes/l/env/NEWLINE", "value\n")
    image.file("acme_bytes/l/env/RAW", b"caf\xe9 $HOME `x` \\n\t\n\n")
    image.file("acme_bytes/l/env/SEP.append", "tail")
    image.file("acme_bytes/l/env/SEP.delim", " -- \n")

    env = launch_env(image.run(["--", "env", "-0"], env={"SEP": "head"}))

    assert env["NEWLINE"] == "value\n"
    assert env["RAW"].encode("utf-8", "surrogateescape") == b"caf\xe9 $HOME `x` \\n\t\n\n"
    assert env["SEP"] == "head -- \ntail"


def test_process_specific_env_applies_to_that_process_only(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["env", "-0"], "acme/web")
    image.process("worker", ["env", "-0"], "acme/web")
    image.file("acme_web/l/env.launch/ROLE", "any")
    image.file("acme_web/l/env.launch/web/ROLE", "web")
    image.file("acme_web/l/env.launch/web/WEB_ONLY", "1")

    web = launch_env(image.run(process="web"))
    worker = launch_env(image.run(process="worker"))
    user_command = launch_env(image.run(["--", "env", "-0"]))

    assert (web["ROLE"], web["WEB_ONLY"]) == ("web", "1")
    assert worker["ROLE"] == "any"
    assert "WEB_ONLY" not in worker
    assert "WEB_ONLY" not in user_command


def test_bin_and_lib_are_prepended_per_layer_and_buildpack(image: Image) -> None:
    image.buildpack("acme/first")
    image.buildpack("acme/second")
    for layer in ("acme_first/a1", "acme_first/a2", "acme_second/b1"):
        (image.layers / layer / "bin").mkdir(parents=True)
        (image.layers / layer / "lib").mkdir()
    image.file("acme_first/a1/bin/hello", "#!/bin/sh\necho hello from a1\n", 0o755)
    # a layer's PATH.prepend comes after every bin/ of its buildpack (lifecycle order)
    image.file("acme_first/a1/env/PATH.prepend", "/opt/first")
    image.file("acme_first/a1/env/PATH.delim", ":")

    env = launch_env(image.run(["--", "env", "-0"], env={"LD_LIBRARY_PATH": "/usr/lib/x"}))
    hello = image.run(["--", "hello"])

    layers = image.layers
    assert env["PATH"].split(":") == [
        f"{layers}/acme_second/b1/bin",
        "/opt/first",
        f"{layers}/acme_first/a2/bin",
        f"{layers}/acme_first/a1/bin",
        "/usr/bin",
        "/bin",
    ]
    assert env["LD_LIBRARY_PATH"].split(":") == [
        f"{layers}/acme_second/b1/lib",
        f"{layers}/acme_first/a2/lib",
        f"{layers}/acme_first/a1/lib",
        "/usr/lib/x",
    ]
    assert hello.stdout == b"hello from a1\n"


def test_cnb_variables_and_launcher_dirs_are_stripped(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["env", "-0"], "acme/web")
    container = {
        "PATH": "/cnb/process:/cnb/lifecycle:/usr/bin:/cnb/process:/bin",
        "CNB_DEPRECATION_MODE": "quiet",
        "CNB_PROCESS_TYPE": "worker",
        "CNB_OTHER": "kept",
        "BPL_SETTING": "kept",
    }

    result = image.run(process="web", env=container)
    env = launch_env(result)

    assert env["PATH"] == "/usr/bin:/bin"
    for name in (
        "CNB_LAYERS_DIR",
        "CNB_APP_DIR",
        "CNB_PLATFORM_API",
        "CNB_DEPRECATION_MODE",
        "CNB_PROCESS_TYPE",
    ):
        assert name not in env
    assert (env["CNB_OTHER"], env["BPL_SETTING"]) == ("kept", "kept")
    # CNB_PROCESS_TYPE does not choose the process: it is ignored with a warning
    assert b"CNB_PROCESS_TYPE=worker is ignored" in result.stderr


# ---------------------------------------------------------------- exec.d

EXEC_D = """#!/bin/bash
set -e
printf 'SEEN = "%s"\\nCWD = "%s"\\n' "$OVR" "$PWD" >&3
printf "OVR = 'from exec.d'\\n" >&3
printf '# a comment\\nESCAPED = "tab\\\\there \\\\"quoted\\\\" \\\\u00e9"\\n' >&3
echo "exec.d talks on stdout"
"""


def test_exec_d_output_overrides_the_env(image: Image) -> None:
    image.buildpack("acme/first")
    image.buildpack("acme/second")
    image.process("web", ["env", "-0"], "acme/second")
    image.file("acme_first/a/env/OVR", "from env file")
    image.file("acme_first/a/exec.d/10-set", EXEC_D, 0o755)
    # later programs see earlier results and win; process-specific ones run after the rest
    image.file(
        "acme_second/b/exec.d/20-later",
        '#!/bin/bash\necho "LATER = \\"$OVR\\"" >&3\necho \'ROLE = "all"\' >&3\n',
        0o755,
    )
    image.file("acme_second/b/exec.d/web/30-web", "#!/bin/bash\necho 'ROLE = \"web\"' >&3\n", 0o755)

    result = image.run(process="web")
    env = launch_env(
        subprocess.CompletedProcess(
            result.args, result.returncode, result.stdout.split(b"\n", 1)[1], result.stderr
        )
    )

    assert result.stdout.startswith(b"exec.d talks on stdout\n")
    assert env["SEEN"] == "from env file"
    assert env["CWD"] == str(image.app)
    assert env["OVR"] == "from exec.d"
    assert env["ESCAPED"] == 'tab\there "quoted" \u00e9'
    assert env["LATER"] == "from exec.d"
    assert env["ROLE"] == "web"


def test_failing_exec_d_stops_the_launch(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["echo", "app started"], "acme/web")
    program = image.file("acme_web/l/exec.d/broken", "#!/bin/bash\nexit 3\n", 0o755)

    result = image.run(process="web")

    assert result.returncode == LAUNCH_FAILED
    assert b"app started" not in result.stdout
    assert result.stderr.decode() == f"launcher: exec.d {program} failed with exit code 3\n"


def test_exec_d_output_that_is_not_string_toml_stops_the_launch(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["echo", "app started"], "acme/web")
    image.file("acme_web/l/exec.d/numbers", "#!/bin/bash\necho 'PORT = 8080' >&3\n", 0o755)

    result = image.run(process="web")

    assert result.returncode == LAUNCH_FAILED
    assert result.stdout == b""
    assert b"PORT: must be a string" in result.stderr
    assert result.stderr.count(b"\n") == 1


# ---------------------------------------------------------------- processes


def test_working_dir_of_the_process_or_the_app_dir(image: Image) -> None:
    (image.app / "sub").mkdir()
    image.buildpack("acme/web")
    image.process("web", ["pwd"], "acme/web")
    image.process("sub", ["pwd"], "acme/web", working_dir=str(image.app / "sub"))

    assert image.run(process="web").stdout.decode() == f"{image.app}\n"
    assert image.run(process="sub").stdout.decode() == f"{image.app}/sub\n"


def test_user_args_replace_default_args(image: Image) -> None:
    image.buildpack("acme/new", api="0.10")
    image.buildpack("acme/old", api="0.8")
    image.process("multi", ["printf", "%s|"], "acme/new", args=["default1", "default2"])
    image.process("single", ["echo"], "acme/new", args=["default"])
    image.process("legacy", ["echo"], "acme/old", args=["default"])

    assert image.run(process="multi").stdout == b"default1|default2|"
    assert image.run(["a b", "c"], process="multi").stdout == b"a b|c|"
    assert image.run(process="single").stdout == b"default\n"
    assert image.run(["user"], process="single").stdout == b"user\n"
    # Buildpack API < 0.9, or Platform API < 0.10: user args are appended
    assert image.run(["user"], process="legacy").stdout == b"default user\n"
    assert image.run(["user"], process="multi", platform_api="0.9").stdout == (
        b"default1|default2|user|"
    )


def test_double_dash_runs_the_command_directly(image: Image) -> None:
    image.buildpack("acme/web")

    result = image.run(["--", "printf", "%s|", "a b", "$HOME", "*"])

    assert result.returncode == 0, result.stderr
    assert result.stdout == b"a b|$HOME|*|"


def test_without_double_dash_the_command_runs_through_bash(image: Image) -> None:
    image.buildpack("acme/web")
    image.file("acme_web/l/env/GREETING", "hello")
    image.file("acme_web/l/profile.d/greet.sh", "export FROM_PROFILE=profile.d\n")
    (image.app / ".profile").write_text("export FROM_APP_PROFILE=app\n")

    script = image.run(['echo "$GREETING $FROM_PROFILE $FROM_APP_PROFILE"; exit 5'])
    tokens = image.run(["printf", "%s|", "$GREETING", "a b"])

    assert (script.returncode, script.stdout) == (5, b"hello profile.d app\n")
    assert tokens.stdout == b"hello|a b|"  # each word is evaluated, then kept as one word


def test_process_type_with_a_dot_in_its_name(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web.v2", ["env", "-0"], "acme/web")
    image.process("web", ["env", "-0"], "acme/web")
    image.file("acme_web/l/env.launch/web.v2/VERSION", "2")

    assert launch_env(image.run(process="web.v2"))["VERSION"] == "2"
    assert "VERSION" not in launch_env(image.run(process="web"))


def test_unknown_process_type_is_a_clear_error(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["echo", "started"], "acme/web")
    image.process("worker", ["echo", "started"], "acme/web")

    result = image.run(process="nope")

    assert result.returncode == LAUNCH_FAILED
    assert result.stdout == b""
    assert result.stderr.decode() == (
        f'launcher: no process type "nope" in {image.layers}/config/metadata.toml '
        "(processes: web, worker)\n"
    )


def test_launcher_without_a_command_or_process_is_a_clear_error(image: Image) -> None:
    image.buildpack("acme/web")

    result = image.run()

    assert result.returncode == LAUNCH_FAILED
    assert result.stderr.startswith(b"launcher: no process type matches")
    assert result.stderr.count(b"\n") == 1


def test_missing_program_is_a_clear_error(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["no-such-program", "x"], "acme/web")

    result = image.run(process="web")

    assert result.returncode == LAUNCH_FAILED
    assert result.stderr.startswith(b"launcher: no-such-program: command not found in PATH=")


def test_exit_code_is_the_process_own(image: Image) -> None:
    image.buildpack("acme/web")
    image.process("web", ["bash", "-c", "exit 42"], "acme/web")

    assert image.run(process="web").returncode == 42


def test_the_process_replaces_the_launcher_and_gets_signals(image: Image) -> None:
    image.buildpack("acme/web")
    app = 'echo $$; trap "echo got TERM; exit 7" TERM; while true; do sleep 0.05; done'
    image.process("web", ["bash", "-c", app], "acme/web")
    image.write_metadata()

    started = subprocess.Popen(
        [str(image.entrypoint("web"))],
        env=image.env(None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert started.stdout is not None
        pid_line = started.stdout.readline()
        time.sleep(0.1)
        started.send_signal(signal.SIGTERM)
        rest, _ = started.communicate(timeout=10)
    finally:
        if started.poll() is None:
            started.kill()

    assert int(pid_line) == started.pid
    assert rest == b"got TERM\n"
    assert started.returncode == 7


# ---------------------------------------------------------------- metadata.toml


def test_reads_every_string_form_tomli_w_writes(image: Image) -> None:
    tricky = 'quote " backslash \\ tab \t newline \n control \x01 del \x7f unicode é ☃'
    long_words = [f"word-{i:02d}-" + "x" * 30 for i in range(4)]
    image.buildpack("acme/web")
    image.process("web", ["printf", "%s\\n", tricky, *long_words], "acme/web")
    image.process("a", ["printf", "%s", "short"], "acme/web")

    text = image.write_metadata()
    web = image.run(process="web")
    short = image.run(process="a")

    # the file holds both an inline array of tables and a multi-line array
    assert "buildpacks = [\n    { id" in text
    assert 'command = [\n    "printf",' in text
    assert web.stdout.decode() == "\n".join([tricky, *long_words]) + "\n"
    assert short.stdout == b"short"


def test_string_command_of_platform_api_before_0_10(image: Image) -> None:
    image.buildpack("acme/web", api="0.8")
    image.process("web", ["echo", "$GREETING"], "acme/web", direct=False, args=["there"])
    image.file("acme_web/l/env/GREETING", "hi")

    text = image.write_metadata("0.9")
    result = image.run(["user"], process="web", platform_api="0.9")

    assert 'command = "echo"' in text
    # not direct: each word is evaluated by bash; Platform < 0.10 appends user args
    assert result.stdout == b"hi there user\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[[processes]]\ntype = "web"\ncommand = ["unterminated]\n', "line 3: unterminated string"),
        ("[[processes]]\ntype = 7\ncommand = []\n", "processes[0].type: must be a string"),
        ('[[processes]]\ntype = "web"\ncommand = "x"\ndirect = "yes"\n', "direct: must be true"),
        ("buildpacks = 1\n", "buildpacks: must be an array of tables"),
    ],
)
def test_malformed_metadata_is_a_one_line_error(image: Image, content: str, message: str) -> None:
    (image.layers / "config").mkdir()
    path = image.layers / "config" / "metadata.toml"
    path.write_text(content)

    result = subprocess.run(
        [str(image.entrypoint("web"))], env=image.env(None), capture_output=True, check=False
    )

    assert result.returncode == LAUNCH_FAILED
    assert result.stderr.decode().startswith(f"launcher: {path}: ")
    assert message in result.stderr.decode()
    assert result.stderr.count(b"\n") == 1


def test_missing_metadata_is_a_one_line_error(image: Image) -> None:
    result = subprocess.run(
        [str(image.launcher), "--", "true"], env=image.env(None), capture_output=True, check=False
    )

    assert result.returncode == LAUNCH_FAILED
    assert result.stderr.decode() == (
        f"launcher: cannot read {image.layers}/config/metadata.toml: No such file or directory\n"
    )


def test_unsupported_apis_use_the_lifecycle_exit_codes(image: Image) -> None:
    image.buildpack("acme/future", api="0.99")
    unsupported_buildpack = image.run(["--", "true"])
    image.buildpacks.clear()
    unsupported_platform = image.run(["--", "true"], platform_api="0.3")

    assert unsupported_buildpack.returncode == 12
    assert b"Buildpack API 0.99" in unsupported_buildpack.stderr
    assert unsupported_platform.returncode == 11
    assert b"CNB_PLATFORM_API=0.3" in unsupported_platform.stderr


# ---------------------------------------------------------------- building the binary


def _has_interpreter(binary: Path) -> bool:
    """Whether an ELF64 little-endian file asks for a dynamic loader (PT_INTERP)."""
    data = binary.read_bytes()
    assert data[:4] == b"\x7fELF"
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 in types


def test_launcher_is_compiled_once_and_statically(tmp_path: Path) -> None:
    first = launcher_path(cache_dir=tmp_path)
    built_at = first.stat().st_mtime_ns
    again = launcher_path(cache_dir=tmp_path)

    assert first == again
    assert again.stat().st_mtime_ns == built_at
    assert first.parent.parent == tmp_path / "launcher"
    assert os.access(first, os.X_OK)
    assert not _has_interpreter(first)
    assert [p.name for p in first.parent.iterdir()] == ["launcher"]


def test_missing_compiler_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "no-such-cc")

    with pytest.raises(BuildError) as raised:
        launcher_path(cache_dir=tmp_path)

    message = str(raised.value)
    assert "no C compiler 'no-such-cc'" in message
    assert "gcc and libc6-dev" in message
    assert "\n" not in message
    assert not (tmp_path / "launcher").exists()
