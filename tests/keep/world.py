"""The world the keep tests build images in: a local apt repository and a stack made from it
(so a patched package is a real ``cnbsdk stack update``), a Git repository for the app, and
a builder packaged from the tiny bash buildpack (fixtures/tiny) on that stack's run image.
Used by the keep story test and the web pages' browser tests."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from tests.image_helpers import private_home
from tests.stacks.local_apt import ChangelogEntry, LocalAptRepo, stack_file

TINY = Path(__file__).parent / "fixtures" / "tiny"
BUILDER = "keep-test/builder:1"


def ok(*args: str) -> str:
    """The CLI in this process; fails the test with its output unless it exits 0."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class World:
    root: Path
    repo: Path
    apt: LocalAptRepo
    stack: Path
    buildpack: Path

    @property
    def layout(self) -> Path:
        return self.root / "stack-images"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    def commit(self, text: str) -> str:
        (self.repo / "hello.txt").write_text(text)
        self.git("commit", "-qam", text.strip())
        return self.git("rev-parse", "HEAD")

    def stack_command(self, command: str) -> str:
        return ok(
            "stack", command, str(self.stack),
            "--run-image", f"oci:{self.layout}:run", "--build-image", f"oci:{self.layout}:build",
        )  # fmt: skip

    def patch_probe(self, old: str, new: str, cve: str) -> str:
        """Publish keep-probe ``new`` (its changelog naming ``cve``) in place of ``old`` and
        run ``cnbsdk stack update``: the run image gets a new digest. Returns its output."""
        self.apt.add("keep-probe", new, changelog=[
            ChangelogEntry(new, f"Fix a parser overflow ({cve})."),
            ChangelogEntry("1.0-1", "Initial release."),
        ])  # fmt: skip
        self.apt.remove("keep-probe", old)
        self.apt.publish()
        return self.stack_command("update")

    def package_builder(self, version: str) -> None:
        descriptor = self.buildpack / "buildpack.toml"
        text = descriptor.read_text()
        descriptor.write_text(text.replace('version = "1.0.0"', f'version = "{version}"'))
        builder_toml = self.root / "builder.toml"
        builder_toml.write_text(
            f"""[[buildpacks]]
uri = "{self.buildpack}"

[[order]]
[[order.group]]
id = "keep/tiny"

[build]
image = "cnbsdk/build:bookworm"

[[run.images]]
image = "oci:{self.layout}:run"
"""
        )
        ok("package", "builder", str(builder_toml), "--output", BUILDER)


def make_world(root: Path) -> World:
    """The stack, the builder (``BUILDER``) and the Git repository under ``root``, with
    ``root/home`` as CNBSDK_HOME (holding the default stack) while they are made."""
    with private_home(root / "home"), pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        apt = LocalAptRepo(root / "apt")
        apt.add("keep-probe", "1.0-1")
        apt.publish()
        stack = stack_file(root / "stack.toml", apt, run=["keep-probe"], build=["keep-probe"])
        repo = root / "repo"
        repo.mkdir()
        buildpack = root / "tiny"
        shutil.copytree(TINY, buildpack)
        w = World(root, repo, apt, stack, buildpack)
        w.git("init", "-q", "-b", "main")
        (repo / "hello.txt").write_text("hello 1\n")
        w.git("add", ".")
        w.git("commit", "-qm", "first")
        w.stack_command("create")
        w.package_builder("1.0.0")
    return w
