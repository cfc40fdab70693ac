"""Launch-time sizing, in shell (the run image has no Python): ``WEB_CONCURRENCY`` (the
worker count gunicorn and uvicorn read) from the container's CPUs and memory limit,
unless the user set it: ``2 * CPUs + 1``, at most one worker per 256 MiB, at least 1."""

from __future__ import annotations

from cnbsdk.buildpack.launch_shell import shell_exec_d
from cnbsdk.buildpack.layers import LayerRef

MIB_PER_WORKER = 256

CONCURRENCY_BODY = f"""
[ -z "${{WEB_CONCURRENCY:-}}" ] || exit 0
cpus=$(cnb_cpu_count)
workers=$((cpus * 2 + 1))
limit=$(cnb_memory_limit)
if [ -n "$limit" ]; then
  by_memory=$((limit / 1048576 / {MIB_PER_WORKER}))
  [ "$by_memory" -ge 1 ] || by_memory=1
  [ "$workers" -le "$by_memory" ] || workers=$by_memory
fi
cnb_export WEB_CONCURRENCY "$workers"
"""


def install_concurrency_program(layer: LayerRef) -> None:
    shell_exec_d(layer, "web-concurrency", CONCURRENCY_BODY)
