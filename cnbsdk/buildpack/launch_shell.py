"""Launch-time helpers without Python: exec.d programs written in POSIX shell.

The run image has no interpreter but ``/bin/sh`` (and coreutils: no ``sed``, ``awk`` or
``grep``, so the library uses none), so work that must happen when the app
starts (sizing a heap to the container's memory, workers to its CPUs) is a shell exec.d
program. ``shell_exec_d(layer, "memory", body)`` installs ``body`` after a small tested
library of functions:

- ``cnb_memory_limit``: the container's memory limit in bytes (cgroup v2 ``memory.max`` of
  the process's own cgroup, then of the root, then cgroup v1 ``memory.limit_in_bytes``), or
  nothing when there is none. ``BPL_MEMORY_LIMIT`` (bytes, or ``512M``, ``2G``, ``1Gi``)
  overrides it — the documented way to give a limit where cgroups do not show one.
- ``cnb_cpu_count``: the CPUs the container may use (cgroup v2 ``cpu.max``, v1 CFS quota,
  else the online CPUs), at least 1; ``BPL_CPU_COUNT`` overrides it.
- ``cnb_bytes VALUE``: ``512M`` → ``536870912`` (``K``/``M``/``G`` and ``Ki``/``Mi``/``Gi``
  are powers of 1024).
- ``cnb_export NAME VALUE``: tells the launcher to set ``NAME`` (a TOML line on fd 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnbsdk.buildpack.exec_d import write_exec_d_program

SHELL_LIBRARY = r"""
cnb_bytes() {
  _v=$1
  case "$_v" in
    *Ki|*K|*k) _n=${_v%%[Kk]*}; _m=1024 ;;
    *Mi|*M|*m) _n=${_v%%[Mm]*}; _m=1048576 ;;
    *Gi|*G|*g) _n=${_v%%[Gg]*}; _m=1073741824 ;;
    *) _n=$_v; _m=1 ;;
  esac
  case "$_n" in ''|*[!0-9]*) return 1 ;; esac
  echo $((_n * _m))
}

cnb_cgroup_value() {
  # The first readable, numeric value among the files named; "max" and v1's huge
  # "unlimited" numbers count as no limit.
  for _f in "$@"; do
    [ -r "$_f" ] || continue
    read -r _v _rest < "$_f" || true
    case "$_v" in max|'') return 0 ;; *[!0-9]*) continue ;; esac
    [ ${#_v} -ge 19 ] && return 0
    echo "$_v"
    return 0
  done
}

cnb_own_cgroup() {
  # The process's cgroup v2 path (the "0::" line of /proc/self/cgroup), "" for the root.
  [ -r /proc/self/cgroup ] || return 0
  while IFS= read -r _line; do
    case "$_line" in 0::/) return 0 ;; 0::*) echo "${_line#0::}"; return 0 ;; esac
  done < /proc/self/cgroup
}

cnb_memory_limit() {
  if [ -n "${BPL_MEMORY_LIMIT:-}" ]; then
    cnb_bytes "$BPL_MEMORY_LIMIT" || {
      echo "BPL_MEMORY_LIMIT=$BPL_MEMORY_LIMIT: expected bytes or a size like 512M" >&2
      return 1
    }
    return 0
  fi
  _root=${CNB_CGROUP_ROOT:-/sys/fs/cgroup}
  _own=$(cnb_own_cgroup)
  cnb_cgroup_value "$_root$_own/memory.max" "$_root/memory.max" \
    "$_root/memory/memory.limit_in_bytes"
}

cnb_cpu_count() {
  if [ -n "${BPL_CPU_COUNT:-}" ]; then
    case "$BPL_CPU_COUNT" in ''|*[!0-9]*|0)
      echo "BPL_CPU_COUNT=$BPL_CPU_COUNT: expected a whole number of CPUs" >&2
      return 1 ;;
    esac
    echo "$BPL_CPU_COUNT"
    return 0
  fi
  _root=${CNB_CGROUP_ROOT:-/sys/fs/cgroup}
  _own=$(cnb_own_cgroup)
  _quota= ; _period=
  for _f in "$_root$_own/cpu.max" "$_root/cpu.max"; do
    if [ -r "$_f" ]; then read -r _quota _period < "$_f" || true; break; fi
  done
  if [ -z "$_quota" ] && [ -r "$_root/cpu/cpu.cfs_quota_us" ]; then
    read -r _quota < "$_root/cpu/cpu.cfs_quota_us" || true
    read -r _period < "$_root/cpu/cpu.cfs_period_us" || true
  fi
  case "$_quota" in max|''|-1|*[!0-9]*) _quota= ;; esac
  case "$_period" in ''|0|*[!0-9]*) _quota= ;; esac
  if [ -n "$_quota" ]; then
    _n=$(( (_quota + _period - 1) / _period ))
  else
    _n=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null || echo 1)
  fi
  [ "$_n" -ge 1 ] 2>/dev/null || _n=1
  echo "$_n"
}

cnb_export() {
  # A TOML basic string: backslashes and quotes escaped (no sed: the run image has none).
  _rest=$2
  _value=
  while [ -n "$_rest" ]; do
    _char=${_rest%"${_rest#?}"}
    _rest=${_rest#?}
    case "$_char" in
      \\|\") _value="$_value\\$_char" ;;
      *) _value="$_value$_char" ;;
    esac
  done
  printf '%s = "%s"\n' "$1" "$_value" >&3
}
"""


def shell_program(body: str) -> str:
    """The whole exec.d program: ``#!/bin/sh``, the library, then ``body``."""
    return "#!/bin/sh\nset -eu\n" + SHELL_LIBRARY.lstrip("\n") + "\n" + body.strip("\n") + "\n"


def shell_exec_d(layer: Any, name: str, body: str, *, process: str | None = None) -> Path:
    """Install ``body`` (POSIX shell, after the library) as the exec.d program ``name`` of
    ``layer`` (a LayerRef or a layer directory)."""
    layer_path = Path(getattr(layer, "path", layer))
    content = shell_program(body).encode("utf-8")
    return write_exec_d_program(layer_path, name, content, process=process)
