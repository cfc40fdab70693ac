"""Compiled lib/ of packaged Python buildpacks (cnbsdk.lifecycle.bytecode_cache): a packaged
buildpack's bin/detect, run by the real bubblewrap in the real stack build image, reads its
bytecode from the cache, cannot write there and never sees the variable; a changed buildpack
(same size, same mtime) is not served the old bytecode; parallel compiles are safe.
Starts: bwrap, the image's python3."""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cnbsdk.distribution.buildpack_dir import package_buildpack_dir
from cnbsdk.lifecycle import bytecode_cache
from cnbsdk.lifecycle.detect import SandboxDetectRunner
from cnbsdk.lifecycle.order import BuildpackIndex, expand_order
from cnbsdk.lifecycle.rootfs import UnpackedImage
from cnbsdk.lifecycle.sandbox import BubblewrapRunner, check_bubblewrap
from cnbsdk.lifecycle.workspace import Workspace
from tests.lifecycle.builders import order_of
from tests.lifecycle.test_sandbox import FIXTURES, build_image  # noqa: F401 (a fixture)

PLUGIN = """import os
from cnbsdk.buildpack import BuildResult, DetectResult, hookimpl


@hookimpl
def detect(context):
    try:
        open("/tmp/.cnbsdk-bytecode/planted.pyc", "wb").close()
        writable = "yes"
    except OSError:
        writable = "no"
    seen = "CNBSDK_BYTECODE_CACHE" in os.environ
    print("MARK original; cache writable:", writable, "; variable seen:", seen)
    return DetectResult.passed()


@hookimpl
def build(context):
    return BuildResult()
"""
TOML = 'api = "0.10"\n[buildpack]\nid = "tests/bytecode"\nversion = "1.0.0"\n'


def write_plugin(root: Path, source: str, mtime_ns: int | None = None) -> Path:
    package = root / "bytecode_bp"
    package.mkdir(parents=True, exist_ok=True)
    (package / "buildpack.toml").write_text(TOML)
    (package / "__init__.py").write_text(source)
    if mtime_ns is not None:
        os.utime(package / "__init__.py", ns=(mtime_ns, mtime_ns))
    return package


def detect_output(image: UnpackedImage, root: Path, plugin: Path, cache: Path) -> str:
    """Package ``plugin`` as the lifecycle does, place it in a new workspace and run its
    bin/detect in the sandbox with the bytecode cache at ``cache``."""
    workspace = Workspace.create(root)
    target = workspace.buildpacks / "tests_bytecode" / "1.0.0"
    packaged = package_buildpack_dir(str(plugin), root / "packaged")
    shutil.copytree(packaged.path, target)
    uid, gid = image.user_ids
    runner = BubblewrapRunner(image.rootfs, workspace, uid=uid, gid=gid, bytecode_dir=cache)
    detect = SandboxDetectRunner(
        runner, workspace, base_env=runner.base_env(image.config.env_dict())
    )
    [group] = expand_order(order_of(["tests/bytecode"]), BuildpackIndex.from_directories([target]))
    verdict = detect(group[0])
    assert verdict.status == "pass", verdict.output
    return verdict.output


def test_a_packaged_buildpack_reads_its_bytecode_from_the_cache_and_a_changed_one_is_not_stale(
    build_image: UnpackedImage,  # noqa: F811
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    plugin = write_plugin(tmp_path / "src", PLUGIN)
    mtime = (plugin / "__init__.py").stat().st_mtime_ns

    first = detect_output(build_image, tmp_path / "one", plugin, cache)
    assert "MARK original; cache writable: no ; variable seen: False" in first
    [compiled] = cache.glob("*/*/bytecode_bp/__pycache__/__init__.*.pyc")
    assert list(cache.glob("*/*/cnbsdk/buildpack/__pycache__/runtime.*.pyc"))

    # Plant other code under the same header (source mtime and size): a build that prints it
    # has read its bytecode from the cache, not compiled the source.
    planted = PLUGIN.replace("MARK original", "MARK from-cache")
    workspace = Workspace.create(tmp_path / "compile")
    uid, gid = build_image.user_ids
    runner = BubblewrapRunner(build_image.rootfs, workspace, uid=uid, gid=gid, bytecode=False)
    script = (
        "import marshal, sys; "
        "open('/tmp/code', 'wb').write(marshal.dumps(compile(sys.argv[1], 'p', 'exec')))"
    )
    made = runner.run(
        ["python3", "-c", script, planted],
        cwd="/",
        env=runner.base_env(build_image.config.env_dict()),
    )
    assert made.exit_code == 0, made.output
    compiled.write_bytes(compiled.read_bytes()[:16] + (runner.temp_dir / "code").read_bytes())
    again = detect_output(build_image, tmp_path / "two", plugin, cache)
    assert "MARK from-cache" in again

    # The author changes the plugin: same size, same mtime. Only the content tells.
    write_plugin(tmp_path / "src", PLUGIN.replace("MARK original", "MARK changed!"), mtime)
    changed = detect_output(build_image, tmp_path / "three", plugin, cache)
    assert "MARK changed!" in changed
    assert len(list(cache.glob("*/*/bytecode_bp"))) == 2  # one directory per content


def test_parallel_builds_compile_one_directory_and_leave_no_partial_one(
    build_image: UnpackedImage,  # noqa: F811
    tmp_path: Path,
) -> None:
    packaged = package_buildpack_dir(
        str(write_plugin(tmp_path / "src", PLUGIN)), tmp_path / "packaged"
    )
    cache = tmp_path / "cache"

    def compile_once(_: int) -> Path | None:
        return bytecode_cache.compiled_lib(
            build_image.rootfs, check_bubblewrap(), packaged.path, cache_dir=cache
        )

    with ThreadPoolExecutor(3) as pool:
        found = set(pool.map(compile_once, range(3)))
    assert len(found) == 1 and None not in found
    [directory] = found
    assert directory is not None and list(directory.rglob("*.pyc"))
    left = sorted(p.name for p in directory.parent.iterdir())
    assert left == [directory.name, f"{directory.name}.lock"]


def test_only_entry_scripts_that_read_the_cache_are_given_one(tmp_path: Path) -> None:
    packaged = package_buildpack_dir(
        str(write_plugin(tmp_path / "src", PLUGIN)), tmp_path / "packaged"
    )
    assert bytecode_cache.understands_cache(packaged.path)
    assert not bytecode_cache.understands_cache(FIXTURES / "provider")  # a bash buildpack
    assert not bytecode_cache.understands_cache(tmp_path / "nothing-here")


@pytest.mark.parametrize("change", ["content", "new file", "removed file"])
def test_the_key_follows_the_python_sources_of_lib(tmp_path: Path, change: str) -> None:
    lib = tmp_path / "bp" / "lib" / "pkg"
    lib.mkdir(parents=True)
    (lib / "a.py").write_text("A = 1\n")
    (lib / "b.py").write_text("B = 1\n")
    before = bytecode_cache.lib_key(tmp_path / "bp")
    (lib / "__pycache__").mkdir()
    (lib / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"junk")
    assert bytecode_cache.lib_key(tmp_path / "bp") == before  # bytecode is no input
    if change == "content":
        (lib / "a.py").write_text("A = 2\n")
    elif change == "new file":
        (lib / "c.py").write_text("")
    else:
        (lib / "b.py").unlink()
    assert bytecode_cache.lib_key(tmp_path / "bp") != before
