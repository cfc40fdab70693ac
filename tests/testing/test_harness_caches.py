"""What the ``cnb_build`` harness keeps between builds to be quick (docs/testing.md, "Speed")
never serves an old buildpack: a plugin changed between two builds — same size, same mtime,
so only its content tells — runs its new code. Real images, bubblewrap, the default stack.
"""

from __future__ import annotations

import os
from pathlib import Path

TOML = 'api = "0.10"\n[buildpack]\nid = "tests/changing"\nversion = "1.0.0"\n'
PLUGIN = """from cnbsdk.buildpack import BuildResult, DetectResult, Process, hookimpl


@hookimpl
def detect(context):
    print("detect says: first")
    return DetectResult.passed()


@hookimpl
def build(context):
    print("build says: first")
    return BuildResult(processes=[Process("web", ["true"], default=True)])
"""


def test_a_plugin_changed_between_builds_runs_its_new_code(cnb_build, tmp_path: Path) -> None:
    package = tmp_path / "changing_bp"
    package.mkdir()
    (package / "buildpack.toml").write_text(TOML)
    source = package / "__init__.py"
    source.write_text(PLUGIN)
    app = {"hello.txt": "hello\n"}

    first = cnb_build(app, [package])
    assert "build says: first" in first.phases["BUILDING"]

    mtime = source.stat().st_mtime_ns
    source.write_text(PLUGIN.replace("first", "again"))  # same length
    os.utime(source, ns=(mtime, mtime))
    second = cnb_build(app, [package])
    assert "build says: again" in second.phases["BUILDING"], second.log
    assert "first" not in second.phases["BUILDING"]
