"""Start-up overhead of the in-image launcher (goal: under 50 ms per launch).

Times, per launch (median and 90th percentile of ``--runs`` spawns, each one
``posix_spawn`` + ``waitpid`` so that Python adds the same small cost to every row):

- ``/bin/true`` started directly (the baseline)
- ``launcher -- /bin/true`` with a one-buildpack metadata.toml and no layers
- ``/cnb/process/web`` (command ``/bin/true``) with 2 buildpacks x 3 layers, each layer with
  ``bin``/``lib`` and env files of every suffix, without and then with one exec.d program
  (a bash script writing two variables to fd 3)

Usage: .venv/bin/python bench/launcher.py [--runs 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import tomli_w

from cnbsdk.lifecycle.launcher import launcher_path

EXEC_D = '#!/bin/bash\necho "FROM_EXEC_D = \\"yes\\"" >&3\necho "PORT = \\"8080\\"" >&3\n'


def layout(root: Path, launcher: Path, *, layered: bool, exec_d: bool) -> Path:
    """An app image's /layers and a /cnb/process/web link; returns the link."""
    layers = root / "layers"
    buildpacks = [{"id": f"bench/bp{b}", "version": "1.0.0", "api": "0.10"} for b in (1, 2)]
    processes = [
        {
            "type": "web",
            "command": ["/bin/true"],
            "args": [],
            "direct": True,
            "buildpack-id": "bench/bp2",
        }
    ]
    (layers / "config").mkdir(parents=True)
    (layers / "config" / "metadata.toml").write_text(
        tomli_w.dumps(
            {"buildpacks": buildpacks if layered else buildpacks[:1], "processes": processes}
        )
    )
    if layered:
        for b in (1, 2):
            for n in (1, 2, 3):
                layer = layers / f"bench_bp{b}" / f"layer{n}"
                for sub in ("bin", "lib", "env", "env.launch/web"):
                    (layer / sub).mkdir(parents=True)
                files = {
                    "env/JAVA_OPTS.append": "-Xmx1g",
                    "env/JAVA_OPTS.delim": " ",
                    "env/CLASSPATH.prepend": f"/opt/bp{b}/{n}",
                    "env/CLASSPATH.delim": ":",
                    "env/HOME_OF_BP": f"/layers/bp{b}",
                    "env/LANG.default": "C.UTF-8",
                    "env.launch/PORT.default": "8080",
                    "env.launch/web/WEB_CONCURRENCY.override": "4",
                }
                for name, content in files.items():
                    (layer / name).write_text(content)
        if exec_d:
            program = layers / "bench_bp2" / "layer3" / "exec.d" / "memory"
            program.parent.mkdir(parents=True)
            program.write_text(EXEC_D)
            program.chmod(0o755)
    (root / "workspace").mkdir()
    link = root / "cnb" / "process" / "web"
    link.parent.mkdir(parents=True)
    link.symlink_to(launcher)
    return link


def time_launches(argv: Sequence[str], env: dict[str, str], runs: int) -> list[float]:
    """Milliseconds per spawn-and-wait of argv, after a few warm-up runs."""
    times: list[float] = []
    for index in range(runs + 5):
        started = time.perf_counter()
        pid = os.posix_spawn(argv[0], list(argv), env)
        _, status = os.waitpid(pid, 0)
        elapsed = (time.perf_counter() - started) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} failed with status {status}")
        if index >= 5:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    options = parser.parse_args()

    launcher = launcher_path(print)
    print(f"launcher: {launcher} ({launcher.stat().st_size // 1024} KiB)")
    rows: list[tuple[str, list[float]]] = []
    base_env = {"PATH": "/usr/bin:/bin", "CNB_PLATFORM_API": "0.13"}
    rows.append(("/bin/true directly", time_launches(["/bin/true"], base_env, options.runs)))
    cases = [
        ("launcher -- /bin/true (no layers)", False, False, True),
        ("web: 2 bp x 3 layers, env files", True, False, False),
        ("web: 2 bp x 3 layers, env files, 1 exec.d", True, True, False),
    ]
    for label, layered, exec_d, direct in cases:
        with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-launcher-") as scratch:
            root = Path(scratch)
            link = layout(root, launcher, layered=layered, exec_d=exec_d)
            env = {
                **base_env,
                "CNB_LAYERS_DIR": str(root / "layers"),
                "CNB_APP_DIR": str(root / "workspace"),
            }
            argv = [str(launcher), "--", "/bin/true"] if direct else [str(link)]
            rows.append((label, time_launches(argv, env, options.runs)))

    baseline = statistics.median(rows[0][1])
    print(f"{'case':45} {'median ms':>10} {'p90 ms':>8} {'overhead ms':>12}")
    for label, times in rows:
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"{label:45} {median:10.2f} {p90:8.2f} {median - baseline:12.2f}")
    print("goal: overhead under 50 ms per launch")


if __name__ == "__main__":
    main()
