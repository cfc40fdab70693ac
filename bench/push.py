"""Push a large image to a local docker-registry with cnbsdk and with skopeo; compare.

Prints both throughputs, their ratio (goal: cnbsdk >= 1.0 x skopeo) and the peak memory of
the cnbsdk push process (goal: under 100 MB). The registry's storage is cleared before each
push so that both really upload every byte.

    .venv/bin/python bench/push.py [--size-mib 1024] [--layers 4] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.registry_server import RegistryServer, make_oci_image, write_random_layer  # noqa: E402


def run_measured(command: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run a command; (wall seconds, peak RSS in bytes of that process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stdout, stderr = process.stdout.read(), process.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed: {stderr.decode()[-2000:]}{stdout.decode()[-500:]}")
    return elapsed, usage.ru_maxrss * 1024


def parallel_push(src: str, dst: str, workers: int) -> None:
    """What ``cnbsdk copy`` would do with blobs moved ``workers`` at a time (library API)."""
    from concurrent.futures import ThreadPoolExecutor

    from cnbsdk.oci.blobs import transfer_blob
    from cnbsdk.oci.image import resolve_image
    from cnbsdk.oci.open import open_destination, open_source

    source, dest = open_source(src), open_destination(dst)
    resolved = resolve_image(source)
    blobs = [*resolved.manifest.layers, resolved.manifest.config]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda blob: transfer_blob(source, dest, blob), blobs))
    dest.put_manifest(resolved.raw_manifest, resolved.media_type)
    dest.commit()
    dest.close()
    source.close()


def fresh(registry: RegistryServer) -> None:
    registry.stop()
    registry.clear_storage()
    registry.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="total layer size")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1, help="pushes per tool (best counts)")
    parser.add_argument("--parallel", type=int, default=4, help="workers for the library run")
    parser.add_argument("--parallel-push", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parallel_push:
        parallel_push(*args.parallel_push, args.parallel)
        return

    work = Path(tempfile.mkdtemp(prefix="cnbsdk-bench-push-"))
    try:
        print(f"writing a {args.size_mib} MiB image in {args.layers} layers ...", flush=True)
        per_layer = (args.size_mib << 20) // args.layers
        layers = [
            write_random_layer(work / "layers", per_layer, seed=i) for i in range(args.layers)
        ]
        make_oci_image(work / "layout", "v1", layers)
        for layer in layers:
            layer.path.unlink()  # the layout holds the blobs now
        total = sum(layer.size for layer in layers)

        with RegistryServer(work / "registry") as registry:
            env = {**os.environ, **registry.auth_env(), "DOCKER_CONFIG": str(work / "docker")}
            target = f"docker://{registry.host}/bench/app:v1"
            cnbsdk = [
                sys.executable,
                "-m",
                "cnbsdk.cli.main",
                "copy",
                f"oci:{work / 'layout'}:v1",
                target,
            ]
            skopeo = [
                "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                "--dest-creds", f"{registry.username}:{registry.password}",
                f"oci:{work / 'layout'}:v1", target,
            ]  # fmt: skip
            parallel = [sys.executable, __file__, "--parallel", str(args.parallel),
                        "--parallel-push", f"oci:{work / 'layout'}:v1", target]  # fmt: skip
            results: dict[str, list[tuple[float, int]]] = {
                "cnbsdk": [],
                "skopeo": [],
                "parallel": [],
            }
            runs = (("cnbsdk", cnbsdk), ("skopeo", skopeo), ("parallel", parallel))
            for _ in range(args.rounds):
                for name, command in runs:
                    fresh(registry)
                    results[name].append(run_measured(command, env))

        best = {name: min(runs) for name, runs in results.items()}
        mib = total / (1 << 20)
        speed = {name: mib / seconds for name, (seconds, _) in best.items()}
        peak = max(rss for _, rss in results["cnbsdk"]) / 1e6
        print(json.dumps({"image_mib": round(mib, 1), "layers": args.layers}))
        labels = {
            "cnbsdk": "cnbsdk copy",
            "skopeo": "skopeo copy",
            "parallel": f"cnbsdk library, {args.parallel} blobs at a time",
        }
        for name, label in labels.items():
            print(f"{label:36} {best[name][0]:6.2f} s {speed[name]:7.1f} MiB/s")
        print(f"ratio cnbsdk copy / skopeo: {speed['cnbsdk'] / speed['skopeo']:.2f} (goal >= 1.0)")
        print(f"ratio parallel / skopeo:    {speed['parallel'] / speed['skopeo']:.2f}")
        print(f"cnbsdk copy peak RSS: {peak:.1f} MB (goal < 100 MB)")
        parallel_peak = max(rss for _, rss in results["parallel"]) / 1e6
        print(f"parallel push peak RSS: {parallel_peak:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
