"""Rebase benchmark: ``cnbsdk rebase`` time with a small and a big app layer, against
rebuilding the same app with ``cnbsdk build`` after the run image changed.

The app is a directory holding one file of ``--small-mb`` / ``--big-mb`` MB of random bytes
(so its app layer has that size) built with the e2e ``hello`` buildpack on a copy of the
shipped stack's run image, in a temporary ``CNBSDK_HOME`` (stack creation not timed). Two
patched run images (an extra ``/etc/motd`` layer each) are tags of the same repository, and
each timed rebase alternates between them, so every run really swaps the base. Figures are
the median and the best of ``--runs`` rebases. The rebuild is a second ``cnbsdk build`` with
a warm cache and the other run image: what a platform would do without rebase.

With ``--registry`` (default) the same is repeated in place on Debian's docker-registry on
loopback (tests/registry_server.py), reporting the bytes uploaded per rebase.

Goals (issue 6): rebase time does not grow with the app layer (same within noise) and is at
least 20 times faster than the rebuild.

    .venv/bin/python bench/rebase.py                   # 1 MB vs 1024 MB
    .venv/bin/python bench/rebase.py --big-mb 256 --no-registry
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cnbsdk.lifecycle.creator import BuildOptions, create  # noqa: E402
from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE, default_stack  # noqa: E402
from cnbsdk.lifecycle.rebase import RebaseReport, rebase  # noqa: E402
from cnbsdk.oci.copy import copy_image  # noqa: E402
from cnbsdk.oci.image import read_image  # noqa: E402
from cnbsdk.oci.image_writer import write_image  # noqa: E402
from cnbsdk.oci.layer_tar import TarEntry, write_layer_from_entries  # noqa: E402
from cnbsdk.oci.open import open_destination, open_source  # noqa: E402

HELLO = REPO / "tests" / "lifecycle" / "e2e" / "fixtures" / "buildpacks" / "hello"


def quiet(_line: str) -> None:
    pass


def patched_run_image(source_ref: str, dest_ref: str, work: Path, motd: str) -> None:
    """``source_ref`` plus an ``/etc/motd`` layer, labels kept: a changed run image."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "motd").write_text(motd)
    layer = write_layer_from_entries(
        [TarEntry.dir("/etc", mode=0o755), TarEntry.file("/etc/motd", source=work / "motd")],
        work,
        compress=True,
    )
    source, dest = open_source(source_ref), open_destination(dest_ref)
    try:
        manifest, config = read_image(source)
        labels = {**config.labels, "io.buildpacks.base.released": motd.strip()}
        write_image(dest, replace(config, labels=labels), [layer], base=(source, manifest))
    finally:
        dest.close()
        source.close()


def make_app(directory: Path, mb: int) -> Path:
    directory.mkdir(parents=True)
    (directory / "hello.txt").write_text("hello\n")
    with open(directory / "payload.bin", "wb") as out:
        for _ in range(mb):
            out.write(os.urandom(1 << 20))
    return directory


def timed_rebases(
    image: str, run_images: tuple[str, str], runs: int
) -> tuple[list[float], list[RebaseReport]]:
    times: list[float] = []
    reports = []
    for index in range(runs):
        started = time.monotonic()
        reports.append(rebase(image, run_image=run_images[index % 2], log=quiet))
        times.append(time.monotonic() - started)
    return times, reports


def moved(reports: list[RebaseReport]) -> str:
    """Bytes moved over all the rebases, and how many of them were app-layer bytes."""
    total = sum(r.bytes_moved for r in reports)
    app = sum(r.app_bytes_moved for r in reports)
    blobs = sum(r.blobs_copied for r in reports)
    mounted = sum(r.blobs_mounted for r in reports)
    return (
        f"moved {total} B in {blobs} blob(s) over {len(reports)} rebases "
        f"(app layers {app} B), mounted {mounted}"
    )


def describe(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1000:7.1f} ms, best {min(times) * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small-mb", type=int, default=1)
    parser.add_argument("--big-mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5, help="rebases per app and round (5)")
    parser.add_argument("--rebuilds", type=int, default=3, help="rebuilds per app (3)")
    parser.add_argument("--registry", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-rebase-") as tmp:
        root = Path(tmp)
        os.environ["CNBSDK_HOME"] = str(root / "home")
        default_stack()
        copy_image(DEFAULT_RUN_IMAGE, "bench/run:built")
        run_images = ("bench/run:a", "bench/run:b")
        for name in run_images:
            patched_run_image("bench/run:built", name, root / "patch" / name[-1], f"patch {name}\n")

        builds = {}
        apps = {}
        for mb in (args.small_mb, args.big_mb):
            app = make_app(root / f"app-{mb}", mb)
            image = f"bench/app-{mb}:latest"
            apps[mb] = image
            options = BuildOptions(
                app=app,
                image=image,
                buildpacks=(str(HELLO),),
                run_image="bench/run:built",
                cache_dir=root / f"cache-{mb}",
            )
            started = time.monotonic()
            create(options, log=quiet)
            first = time.monotonic() - started
            rebuilds = []
            for index in range(args.rebuilds):  # what a platform does when the base changes
                started = time.monotonic()
                create(replace(options, run_image=run_images[index % 2]), log=quiet)
                rebuilds.append(time.monotonic() - started)
            builds[mb] = (first, statistics.median(rebuilds))
        os.sync()  # the builds' dirty pages must not be written back during the rebases
        rows = []
        for _ in range(2):  # interleaved, twice, so neither size gets a quieter moment
            for mb, image in apps.items():
                times, reports = timed_rebases(image, run_images, args.runs)
                rows.append((mb, *builds[mb], times, reports))
        rows = [
            (mb, first, rebuild, [t for r in rows if r[0] == mb for t in r[3]],
             [rep for r in rows if r[0] == mb for rep in r[4]])
            for mb, (first, rebuild) in builds.items()
        ]  # fmt: skip

        print(
            f"local store, {2 * args.runs} rebases per app (alternating two run images), "
            f"build and median of {args.rebuilds} rebuilds (warm cache, other run image):"
        )
        for mb, first, rebuild, times, reports in rows:
            ratio = rebuild / statistics.median(times)
            print(
                f"  app layer {mb:5d} MB: build {first:6.2f} s, rebuild {rebuild:6.3f} s, "
                f"rebase {describe(times)}; rebuild/rebase {ratio:6.0f}x "
                f"(goal >= 20: {'met' if ratio >= 20 else 'NOT met'})"
            )
            print(f"    {moved(reports)}")
            if not any(r.bytes_moved for r in reports):
                print("    (the rebuilds on the same run images had written these very images)")
        small, big = (statistics.median(row[3]) for row in rows)
        print(f"  big/small rebase time: {big / small:.2f} (goal: about 1)")

        if args.registry:
            registry_rows(root, apps, run_images, args.runs)


def registry_rows(root: Path, apps: dict[int, str], run_images: tuple[str, str], runs: int) -> None:
    from tests.registry_server import RegistryServer

    with RegistryServer(root / "registry") as server:
        os.environ.update(server.auth_env())
        host = f"{server.host}/bench"
        remote_runs = tuple(f"{host}/run:{name[-1]}" for name in run_images)
        for local, remote in zip(run_images, remote_runs, strict=True):
            copy_image(local, remote)
        print(f"registry on loopback, {runs} rebases per app, in place:")
        for mb, image in apps.items():
            remote = f"{host}/app-{mb}:latest"
            copy_image(image, remote)
            # The copy still names the store's run image: move it to the registry's (untimed).
            rebase(remote, run_image=remote_runs[1], force=True, log=quiet)
            times, reports = timed_rebases(remote, remote_runs, runs)
            print(f"  app layer {mb:5d} MB: rebase {describe(times)}; {moved(reports)}")


if __name__ == "__main__":
    main()
