"""Rebuild benchmark: how much a no-change rebuild and a source-change rebuild cost against
the first build, for an app whose buildpack writes ``--mb`` MB of launch layers.

The e2e fixture buildpack ``e2e/layers`` (tests/lifecycle/e2e/fixtures) writes a launch
layer of ``E2E_BIG_MB`` files of 1 MB of incompressible, reproducible bytes, and on a rebuild
keeps it by writing only its toml (the usual pattern for launch-only layers). Each build runs
through ``cnbsdk.lifecycle.creator.create`` in this process, sandboxed, into an OCI layout;
the default stack is created in a temporary ``CNBSDK_HOME`` first (not timed).

Goal (issue 5): a no-change rebuild takes at most 1/5 of the first build, and a rebuild after
a source change re-adds only the app layer.

    .venv/bin/python bench/rebuild.py            # 200 MB of launch layers
    .venv/bin/python bench/rebuild.py --mb 50
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnbsdk.lifecycle.creator import BuildOptions, create  # noqa: E402
from cnbsdk.lifecycle.default_stack import default_stack  # noqa: E402
from cnbsdk.oci.image import read_image  # noqa: E402
from cnbsdk.oci.open import open_source  # noqa: E402

FIXTURES = REPO / "tests" / "lifecycle" / "e2e" / "fixtures" / "buildpacks"


def diff_ids(ref: str) -> tuple[str, ...]:
    source = open_source(ref)
    try:
        return read_image(source)[1].diff_ids
    finally:
        source.close()


def timed_build(options: BuildOptions, lines: list[str]) -> float:
    lines.clear()
    started = time.monotonic()
    create(options, log=lines.append)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="MB of launch layers (default 200)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-rebuild-") as tmp:
        root = Path(tmp)
        os.environ["CNBSDK_HOME"] = str(root / "home")
        default_stack()
        app = root / "app"
        app.mkdir()
        (app / "hello.txt").write_text("hello\n")
        image = f"oci:{root}/layout:app"
        options = BuildOptions(
            app=app,
            image=image,
            buildpacks=(str(FIXTURES / "layers"), str(FIXTURES / "hello")),
            env=(f"E2E_BIG_MB={args.mb}",),
            cache_dir=root / "cache",
        )
        lines: list[str] = []
        first = timed_build(options, lines)
        first_ids = diff_ids(image)

        again = timed_build(options, lines)
        added = [line for line in lines if line.startswith("Adding layer")]
        reused = [line for line in lines if line.startswith("Reusing layer")]
        same_ids = diff_ids(image) == first_ids

        (app / "hello.txt").write_text("hello again\n")
        changed = timed_build(options, lines)
        changed_ids = diff_ids(image)
        differing = sum(1 for a, b in zip(first_ids, changed_ids, strict=False) if a != b)
        app_lines = [line for line in lines if "app layer(s)" in line]

    print(f"launch layers: {args.mb} MB (+ small fixture layers)")
    print(f"first build:               {first:7.2f} s")
    print(
        f"no-change rebuild:         {again:7.2f} s  ratio {again / first:.2f}"
        f" (goal <= 0.20: {'met' if again <= first / 5 else 'NOT met'})"
    )
    print(f"  layers reused/added:     {len(reused)}/{len(added)}; same diffIDs: {same_ids}")
    print(f"source-change rebuild:     {changed:7.2f} s  ratio {changed / first:.2f}")
    print(f"  layers that differ:      {differing} ({'; '.join(app_lines)})")


if __name__ == "__main__":
    main()
