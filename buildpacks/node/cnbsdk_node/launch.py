"""Launch-time sizing, in shell (the run image has no Python): ``NODE_OPTIONS``'s
``--max-old-space-size`` set to 75% of the container's memory limit, unless the user set it."""

from __future__ import annotations

from cnbsdk.buildpack.launch_shell import shell_exec_d
from cnbsdk.buildpack.layers import LayerRef

HEAP_SHARE_PERCENT = 75

MEMORY_BODY = f"""
case " ${{NODE_OPTIONS:-}} " in
  *--max-old-space-size*|*--max_old_space_size*) exit 0 ;;
esac
limit=$(cnb_memory_limit)
[ -n "$limit" ] || exit 0
heap=$((limit / 1048576 * {HEAP_SHARE_PERCENT} / 100))
[ "$heap" -ge 16 ] || heap=16
cnb_export NODE_OPTIONS "${{NODE_OPTIONS:+$NODE_OPTIONS }}--max-old-space-size=$heap"
"""


def install_memory_program(layer: LayerRef) -> None:
    shell_exec_d(layer, "node-memory", MEMORY_BODY)
