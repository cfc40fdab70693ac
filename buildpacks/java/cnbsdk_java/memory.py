"""The memory calculator: at every start, the JVM's regions sized to the container.

A shell exec.d program (the run image has no Python): the memory limit (cgroups, or
``BPL_MEMORY_LIMIT``) less head-room, thread stacks, metaspace (from the class count made
at build time), code cache and direct memory is the heap. The flags go into
``JAVA_TOOL_OPTIONS`` unless the user set ``-Xmx`` there, and one line says what was chosen.
Paketo's calculator is the model; below 1 GiB the defaults shrink (fewer threads, a smaller
code cache) so that a 256 MiB container still gets a heap.
"""

from __future__ import annotations

from typing import Any

from cnbsdk.buildpack import LayerRef
from cnbsdk.buildpack.launch_shell import shell_exec_d

PROGRAM_VERSION = "1"
LOADED_CLASS_PERCENT = 35  # Paketo: about a third of the classes present get loaded

MEMORY_BODY = r"""
mib=1048576
total=$(cnb_memory_limit)
if [ -z "$total" ]; then
  while read -r _key _kib _unit; do
    if [ "$_key" = "MemTotal:" ]; then total=$((_kib * 1024)); break; fi
  done < /proc/meminfo
fi
opts=${JAVA_TOOL_OPTIONS:-}
case " $opts " in
  *" -Xmx"*)
    echo "JVM memory: -Xmx is set in JAVA_TOOL_OPTIONS; the memory calculator leaves it" >&2
    exit 0 ;;
esac
head_room=${BPL_JVM_HEAD_ROOM:-0}
case "$head_room" in ''|*[!0-9]*)
  echo "BPL_JVM_HEAD_ROOM=$head_room: expected a percentage from 0 to 99" >&2; exit 1 ;;
esac
if [ "$head_room" -gt 99 ]; then
  echo "BPL_JVM_HEAD_ROOM=$head_room: expected a percentage from 0 to 99" >&2; exit 1
fi
if [ -n "${BPL_JVM_THREAD_COUNT:-}" ]; then
  threads=$BPL_JVM_THREAD_COUNT
  case "$threads" in *[!0-9]*|0)
    echo "BPL_JVM_THREAD_COUNT=$threads: expected a whole number above 0" >&2; exit 1 ;;
  esac
elif [ "$total" -ge $((1024 * mib)) ]; then
  threads=250
else
  threads=$((total / mib / 4))
fi
if [ -n "${BPL_JVM_LOADED_CLASS_COUNT:-}" ]; then
  classes=$BPL_JVM_LOADED_CLASS_COUNT
  case "$classes" in *[!0-9]*|0)
    echo "BPL_JVM_LOADED_CLASS_COUNT=$classes: expected a whole number above 0" >&2; exit 1 ;;
  esac
else
  classes=$((CNB_JVM_CLASS_COUNT * LOADED_CLASS_PERCENT / 100))
fi
if [ "$total" -ge $((2048 * mib)) ]; then code=240; else code=$((total / mib / 8)); fi
if [ "$code" -lt 32 ]; then code=32; fi
direct=10
meta=$(( (classes * 5800 + 14000000 + mib - 1) / mib ))
room=$((total / mib * head_room / 100))
heap=$((total / mib - room - direct - meta - code - threads))
summary="Total Memory: $((total / mib))M, Thread Count: $threads"
summary="$summary, Loaded Class Count: $classes, Headroom: $head_room%"
if [ "$heap" -lt 16 ]; then
  regions="$threads thread stacks of 1M, metaspace ${meta}M, code cache ${code}M"
  regions="$regions, direct memory ${direct}M and head-room ${room}M"
  echo "JVM memory: $((total / mib))M leaves no room for a heap after $regions:" \
    "raise the limit or lower BPL_JVM_THREAD_COUNT ($summary)" >&2
  exit 1
fi
flags="-XX:MaxDirectMemorySize=${direct}M -Xmx${heap}M -XX:MaxMetaspaceSize=${meta}M"
flags="$flags -XX:ReservedCodeCacheSize=${code}M -Xss1M"
echo "Calculated JVM memory configuration: $flags ($summary)" >&2
cnb_export JAVA_TOOL_OPTIONS "${opts:+$opts }$flags"
"""


def memory_program(class_count: int) -> str:
    """The exec.d body with the build's class count filled in."""
    constants = (
        f"CNB_JVM_CLASS_COUNT={int(class_count)}\nLOADED_CLASS_PERCENT={LOADED_CLASS_PERCENT}\n"
    )
    return constants + MEMORY_BODY


def install_memory_calculator(context: Any, class_count: int) -> LayerRef:
    """The launch layer holding the calculator, reused while the class count is the same."""
    expected = {"classes": class_count, "program": PROGRAM_VERSION}
    layer: LayerRef = context.layers.cached("memory-calculator", expected, launch=True)
    if not layer.reused:
        shell_exec_d(layer, "memory-calculator", memory_program(class_count))
    return layer
