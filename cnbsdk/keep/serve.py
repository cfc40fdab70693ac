"""``cnbsdk serve``: the reconcile loop, run until stopped.

Every ``poll_interval`` seconds each image's inputs are resolved and the reasons computed
(polling can be turned off: then only new images, patched images and ``image trigger``
requests are looked at, every tick). Queued builds run in worker processes
(``cnbsdk.keep.worker``), at most ``jobs`` at once and one per image, most important first.
The queue is the store, so it survives a restart; a worker dies with the service
(``PR_SET_PDEATHSIG``), and a build whose process died is marked failed and queued again
on the next start (``reconcile.recover``). SIGTERM or SIGINT stop the service: running
builds are interrupted, recorded as failed and queued again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

from cnbsdk.keep.inputs import BuilderState
from cnbsdk.keep.model import QUEUED
from cnbsdk.keep.reconcile import plan_image, recover
from cnbsdk.keep.store import Store

Echo = Callable[[str], None]
TICK = 1.0
PR_SET_PDEATHSIG = 1


def default_jobs() -> int:
    """Builds are CPU-bound: one per two cores, at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Service:
    def __init__(
        self,
        store: Store,
        *,
        poll_interval: float = 60.0,
        poll: bool = True,
        jobs: int | None = None,
        echo: Echo = print,
    ) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self.poll = poll
        self.jobs = jobs or default_jobs()
        self.echo = echo
        self.running: dict[int, tuple[str, subprocess.Popen[bytes]]] = {}
        self.stopping = False
        self._next_poll = 0.0

    def run(self, *, passes: int | None = None) -> None:
        """Loop until SIGTERM/SIGINT (or ``passes`` ticks, for tests)."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            count = 0
            while not self.stopping and (passes is None or count < passes):
                self.tick()
                count += 1
                if passes is None or count < passes:
                    time.sleep(TICK)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self._shutdown()

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def tick(self) -> None:
        self._reap()
        # Every tick, not only at start: a worker of a killed service may take a moment
        # to die after its parent.
        for build in recover(self.store):
            self.echo(
                f"Recovered: {build.image} build {build.number - 1} was cut off; "
                f"queued as build {build.number}"
            )
        now = time.time()
        poll_now = self.poll and now >= self._next_poll
        if poll_now:
            self._next_poll = now + self.poll_interval
        builders: dict[str, BuilderState] = {}
        for spec in self.store.images():
            if not poll_now and not self._asked_for(spec.name, spec.config()):
                continue
            outcome = plan_image(self.store, spec, builders, now=now)
            if isinstance(outcome, str):
                self.echo(f"{spec.name}: cannot resolve: {outcome}")
            elif outcome is not None:
                reasons = ",".join(outcome.reasons)
                self.echo(f"{spec.name}: queued build {outcome.number} ({reasons})")
        self._start_queued()

    def _asked_for(self, name: str, config: dict[str, object]) -> bool:
        """Without polling: a new image, a patched one, or a trigger."""
        row = self.store.image_row(name)
        if row["trigger_requested"] or int(row["build_counter"]) == 0:
            return True
        last = self.store.last_build(name)
        return last is not None and last.inputs.config != config

    def _start_queued(self) -> None:
        busy = {image for image, _ in self.running.values()}
        for build in self.store.builds_in(QUEUED):
            if len(self.running) >= self.jobs:
                return
            if build.image in busy or build.id in self.running:
                continue
            process = subprocess.Popen(
                [sys.executable, "-m", "cnbsdk.keep.worker", str(build.id)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
            self.running[build.id] = (build.image, process)
            busy.add(build.image)
            self.echo(f"{build.image}: build {build.number} started (pid {process.pid})")

    def _reap(self) -> None:
        for build_id, (image, process) in list(self.running.items()):
            if process.poll() is None:
                continue
            del self.running[build_id]
            build = self.store.build_by_id(build_id)
            self.echo(
                f"{image}: build {build.number} {build.status}"
                + (f": {build.status_message}" if build.status_message else "")
            )

    def _shutdown(self) -> None:
        for _image, process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for _image, process in self.running.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self._reap()
