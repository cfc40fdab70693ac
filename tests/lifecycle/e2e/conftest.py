"""End-to-end fixtures: the default stack created once per session into a temporary
``CNBSDK_HOME``, the bash buildpacks under ``fixtures/buildpacks``, apps in tmp dirs, and
helpers to read the images (OCI layouts in tmp dirs) and caches a build leaves.

Starts: bubblewrap (every build runs its buildpacks in the build image), the C compiler
(once, for the launcher). Package downloads are cached in the user's cnbsdk cache directory,
so only the first run on a machine fetches the stack's Debian packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnbsdk.lifecycle.cache import VolumeCache
from cnbsdk.lifecycle.default_stack import DefaultStack
from cnbsdk.oci.digest import sha256_digest
from cnbsdk.oci.models import ImageConfig, Manifest
from cnbsdk.spec.labels import LIFECYCLE_METADATA_LABEL, LifecycleMetadata
from tests.image_helpers import (
    cnbsdk,  # noqa: F401 (the e2e tests import it from here)
    private_home,
    read_image_ref,
)

FIXTURES = Path(__file__).parent / "fixtures"
BUILDPACKS = FIXTURES / "buildpacks"
REPO = Path(__file__).resolve().parents[3]


def buildpack(name: str) -> str:
    return str(BUILDPACKS / name)


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DefaultStack]:
    """A private CNBSDK_HOME (its image store holds the default stack, created once)."""
    with private_home(tmp_path_factory.mktemp("cnbsdk-home")) as stack:
        yield stack


@pytest.fixture
def hello_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hello from the app\n")
    return app


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """A directory for images (OCI layouts) and caches of one test."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def build_args(app: Path, image: str, cache: Path, *buildpacks: str, extra: tuple[str, ...] = ()):
    args = ["build", str(app), "--image", image, "--cache-dir", str(cache)]
    for name in buildpacks:
        args += ["--buildpack", buildpack(name)]
    return [*args, *extra]


@dataclass(frozen=True)
class ImageInfo:
    manifest: Manifest
    config: ImageConfig
    digest: str

    @property
    def lifecycle(self) -> LifecycleMetadata:
        return LifecycleMetadata.from_json(self.config.labels[LIFECYCLE_METADATA_LABEL])

    def label_json(self, name: str) -> dict:
        return json.loads(self.config.labels[name])


def read_app_image(ref: str) -> ImageInfo:
    manifest, config, raw = read_image_ref(ref)
    return ImageInfo(manifest, config, sha256_digest(raw))


def cache_state(directory: Path) -> tuple[str, tuple[str, ...]]:
    """What a cache holds, read through the cache itself: its metadata and its tars."""
    with VolumeCache(directory) as cache:
        metadata = cache.metadata().to_json()
        committed = cache.committed_dir
        tars = tuple(sorted(p.name for p in committed.iterdir())) if committed else ()
    return metadata, tars


# -- the real command line, for the tests that send signals ------------------------------------


class CliProcess:
    """``python -m cnbsdk.cli.main ...`` with its output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cnbsdk.cli.main", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60) -> None:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(text in line for line in self.lines) or self.process.poll() is not None,
                timeout=timeout,
            )
        if not found or not any(text in line for line in self.lines):
            raise AssertionError(f"never printed {text!r}:\n" + self.output)

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env
