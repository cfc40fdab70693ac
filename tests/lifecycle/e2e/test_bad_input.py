"""A buildpack that breaks the spec fails the build with one line naming it and the file, a
non-zero exit, and the previous image and the cache exactly as they were.

One good build (``e2e/layers`` then ``e2e/bad`` with ``BAD_MODE=ok``) makes the previous
image and the cache; each case rebuilds the same image with ``e2e/bad`` misbehaving.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lifecycle.e2e.conftest import (
    BUILDPACKS,
    build_args,
    cache_state,
    cnbsdk,
    read_app_image,
)

pytestmark = pytest.mark.usefixtures("e2e_home")


@dataclass(frozen=True)
class Previous:
    app: Path
    image: str
    cache: Path
    digest: str
    cache_state: tuple[str, tuple[str, ...]]
    layout_files: frozenset[str]


def layout_files(layout: Path) -> frozenset[str]:
    return frozenset(str(p.relative_to(layout)) for p in layout.rglob("*"))


@pytest.fixture(scope="module")
def previous(e2e_home: object, tmp_path_factory: pytest.TempPathFactory) -> Previous:
    root = tmp_path_factory.mktemp("bad-input")
    app = root / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hi\n")
    image = f"oci:{root}/layout:app"
    cache = root / "cache"
    args = build_args(app, image, cache, "layers", "bad", extra=("--env", "BAD_MODE=ok"))
    result = cnbsdk(*args)
    assert result.exit_code == 0, result.output
    return Previous(
        app,
        image,
        cache,
        read_app_image(image).digest,
        cache_state(cache),
        layout_files(root / "layout"),
    )


CASES = {
    # mode: what the one-line error must say (the buildpack, the file, the problem)
    "exit-nonzero": ["buildpack e2e/bad@1.0.0 failed (exit 3)"],
    "bad-launch-toml": ["e2e/bad", "/layers/e2e_bad/launch.toml"],
    "bad-layer-toml": ["e2e/bad", "/layers/e2e_bad/broken.toml", "types.launch"],
    "undeclared-sbom": ["e2e/bad", "launch.sbom.spdx.json", "sbom-formats"],
    "escaping-symlink": ["e2e/bad", "/layers/e2e_bad/escape/passwd"],
    "invalid-process-type": ["e2e/bad", "/layers/e2e_bad/launch.toml", "my process"],
}


@pytest.mark.parametrize("mode", sorted(CASES))
def test_bad_buildpack_fails_and_leaves_image_and_cache_untouched(
    previous: Previous, mode: str
) -> None:
    args = build_args(
        previous.app,
        previous.image,
        previous.cache,
        "layers",
        "bad",
        extra=("--env", f"BAD_MODE={mode}"),
    )
    result = cnbsdk(*args)
    assert result.exit_code != 0, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in CASES[mode]:
        assert fragment in errors[0], errors[0]
    assert "Traceback" not in result.output
    assert "Successfully built" not in result.output
    # The previous image and the cache are exactly as the good build left them.
    assert read_app_image(previous.image).digest == previous.digest
    assert layout_files(Path(previous.image[4:].rsplit(":", 1)[0])) == previous.layout_files
    assert cache_state(previous.cache) == previous.cache_state


def test_the_failing_buildpack_output_is_shown(previous: Previous) -> None:
    args = build_args(
        previous.app,
        previous.image,
        previous.cache,
        "layers",
        "bad",
        extra=("--env", "BAD_MODE=exit-nonzero"),
    )
    result = cnbsdk(*args)
    assert "bad build: failing on purpose" in result.output
    assert "===> EXPORTING" not in result.output


def test_a_buildpack_of_an_unsupported_api_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    old = tmp_path / "old-hello"
    shutil.copytree(BUILDPACKS / "hello", old)
    descriptor = old / "buildpack.toml"
    descriptor.write_text(descriptor.read_text().replace('api = "0.10"', 'api = "0.6"'))
    app = tmp_path / "app"
    app.mkdir()
    (app / "hello.txt").write_text("hi\n")
    layout = tmp_path / "layout"
    result = cnbsdk(
        "build", str(app), "--image", f"oci:{layout}:app", "--cache-dir", str(tmp_path / "c"),
        "--buildpack", str(old),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        f"error: {descriptor}: api: unsupported Buildpack API '0.6': cnbsdk runs buildpacks "
        "of API 0.7 to 0.12 (Python plugins: 0.10 to 0.12)"
    ]
    assert "===> ANALYZING" not in result.output
    assert not layout.exists() and not (tmp_path / "c").exists()
