"""Keep-current benchmark (issue 17): ``--images`` (50) image records on the default stack,
all built once; then the stack's run image is patched (what ``cnbsdk stack update --default``
writes: a new ``cnbsdk/run:bookworm``) and one ``cnbsdk reconcile`` pass must turn that into a
STACK rebase of every image. Prints the total time of that pass, the default builder's remake
within it, the time per image, and the store's size per 1,000 builds.

Runs in a temporary ``CNBSDK_HOME`` (the default stack is created there first, not timed;
Debian packages come from the usual download cache). The patched run image is the current
one plus an ``/etc/motd`` layer (bench/rebase.py's), so the figures do not depend on what
Debian serves today. The apps are copies of examples/apps/hello-app (the tutorial's
buildpack builds them). Goal: all 50 rebased in under 60 s on the 2-core machine.

    .venv/bin/python bench/keep_current.py
    .venv/bin/python bench/keep_current.py --images 10
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.rebase import patched_run_image  # noqa: E402
from cnbsdk.keep.model import LOCAL, BuildResult, Change, ImageSpec, Inputs, Source  # noqa: E402
from cnbsdk.keep.reconcile import reconcile  # noqa: E402
from cnbsdk.keep.store import Store  # noqa: E402

APP = REPO / "examples" / "apps" / "hello-app"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--keep", type=Path, help="Use (and keep) this CNBSDK_HOME.")
    args = parser.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="cnbsdk-bench-keep-"))
    os.environ["CNBSDK_HOME"] = str(home)
    os.environ.pop("SOURCE_DATE_EPOCH", None)
    from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE, default_stack

    try:
        print(f"CNBSDK_HOME={home}; creating the default stack (not timed)...", flush=True)
        default_stack()
        apps = home / "apps"
        with Store() as store:
            for index in range(args.images):
                app = apps / f"app-{index}"
                shutil.copytree(APP, app)
                (app / "index.txt").write_text(f"{index}\n")
                store.add_image(
                    ImageSpec(
                        name=f"app-{index}",
                        tag=f"bench/app-{index}",
                        source=Source(LOCAL, str(app)),
                    )
                )
            started = time.monotonic()
            first = reconcile(store, echo=None)
            first_seconds = time.monotonic() - started
            failed = [b for b in first.ran if not b.succeeded]
            assert not failed, failed[0].status_message
            print(
                f"first builds: {len(first.ran)} images built in {first_seconds:.1f} s "
                f"({first_seconds / max(1, len(first.ran)):.2f} s per image)",
                flush=True,
            )
            patched_run_image(DEFAULT_RUN_IMAGE, DEFAULT_RUN_IMAGE, home / "patch", "patched\n")
            started = time.monotonic()
            from cnbsdk.keep.inputs import resolve_builder

            resolve_builder("cnbsdk/builder:bookworm")  # the pass would remake it first
            remake = time.monotonic() - started
            second = reconcile(store, echo=None)
            total = time.monotonic() - started
            kinds = sorted({(b.kind, ",".join(b.reasons), b.status) for b in second.ran})
            per_image = [b.result.seconds for b in second.ran]
            print(f"after the stack update: {len(second.ran)} builds, {kinds}")
            print(
                f"  total {total:.1f} s for {len(second.ran)} images "
                f"(default builder remade in {remake:.1f} s; the pass {total - remake:.1f} s, "
                f"{(total - remake) / max(1, len(second.ran)):.2f} s per image; "
                f"rebase itself median {sorted(per_image)[len(per_image) // 2]:.3f} s, "
                f"max {max(per_image):.3f} s)",
                flush=True,
            )
            log = store.log(second.ran[0].id) or b""
            build_log = store.log(first.ran[0].id) or b""
        print(f"store size per 1,000 builds: {store_size(home / 'size', build_log, log)}")
    finally:
        if args.keep is None:
            shutil.rmtree(home, ignore_errors=True)


def store_size(directory: Path, build_log: bytes, rebase_log: bytes) -> str:
    """1,000 build records (half rebuilds, half rebases, with the real logs above) in a
    fresh store: its file size, checkpointed."""
    directory.mkdir(parents=True)
    inputs = Inputs(
        {"env": [], "source": {"kind": LOCAL, "url": "/apps/app"}}, LOCAL, "sha256:" + "a" * 64,
        "cnbsdk/builder:bookworm", "sha256:" + "b" * 64, ("examples/hello@0.1.0",),
        "cnbsdk/run:bookworm@sha256:" + "c" * 64, "io.cnbsdk.stacks.bookworm", "0.20.0",
    )  # fmt: skip
    with Store(directory / "keep.db") as store:
        for image in range(100):
            store.add_image(ImageSpec(f"app-{image}", f"bench/app-{image}", Source(LOCAL, "/a")))
            for number in range(10):
                rebase = number % 2 == 1
                change = Change("STACK" if rebase else "COMMIT", "old" * 20, "new" * 20, "m")
                record = store.queue_build(
                    f"app-{image}", kind="rebase" if rebase else "build", changes=(change,),
                    priority=1, inputs=inputs,
                )  # fmt: skip
                assert record is not None
                name = f"bench/app-{image}"
                result = BuildResult(
                    digest="sha256:" + "d" * 64, image=f"{name}:latest@sha256:" + "d" * 64,
                    tags=(f"{name}:latest", f"{name}:b{number}.20260101.000000"),
                    run_image=inputs.run_image, buildpacks=inputs.buildpacks,
                    lifecycle_version="0.20.0", stack_id=inputs.stack_id, seconds=1.0,
                )  # fmt: skip
                store.finish(record.id, status="success", message="", result=result,
                             log=rebase_log if rebase else build_log)  # fmt: skip
    db = sqlite3.connect(directory / "keep.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = (directory / "keep.db").stat().st_size
    logs = (len(build_log) + len(rebase_log)) * 500
    return (
        f"{size / 1e6:.2f} MB ({logs / 1e6:.2f} MB of it logs: a rebuild's log "
        f"{len(build_log) / 1e3:.1f} kB, a rebase's {len(rebase_log) / 1e3:.1f} kB)"
    )


if __name__ == "__main__":
    main()
