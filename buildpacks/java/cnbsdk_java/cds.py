"""Application class-data sharing: a training run at build time, an archive used at launch.

The app is started once in the build (``-XX:DumpLoadedClassList``) until it listens on its
port (then answers one ``GET /``), exits, or a time-out passes; the classes it loaded are
then dumped into a static archive (``-Xshare:dump``, which works on every JVM from 11 on,
with or without the JVM's own archive). At launch ``-XX:SharedArchiveFile`` maps them
instead of loading them.
Only JAR files can be archived, so the archive covers the classpath's leading JARs (with a
directory first, the JDK's classes only); the JVM checks those JARs' sizes and times at
start, which is why their times are set to the exporter's before the dump.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import LayerEnv, LayerRef, Scope
from cnbsdk_java.jvm import NO_PERF_DATA, InstalledJvm, normalize_mtime

ARCHIVE = "app.jsa"
TRAINING_SECONDS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _digest(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _first_request(port: int) -> None:
    """One ``GET /``, whatever it answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            answer.read()
    except (OSError, ValueError):
        pass


def archived_jars(classpath: Sequence[str]) -> list[str]:
    """The leading JAR files of ``classpath``: what a static archive can cover."""
    jars: list[str] = []
    for entry in classpath:
        if not entry.endswith(".jar"):
            break
        jars.append(entry)
    return jars


def training_run(
    jvm: InstalledJvm,
    java_args: Sequence[str],
    class_list: Path,
    *,
    cwd: Path,
    environ: Mapping[str, str],
    timeout: float = TRAINING_SECONDS,
) -> str:
    """Run the app once with the class list dumped; returns how the run ended."""
    port = _free_port()
    env = {k: v for k, v in environ.items() if k != "JAVA_TOOL_OPTIONS"}
    env.update(PORT=str(port), SERVER_PORT=str(port), JAVA_HOME=str(jvm.home))
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [str(jvm.java), NO_PERF_DATA, f"-XX:DumpLoadedClassList={class_list}", *java_args],
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        ended = "timed out"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                ended = f"exited with status {process.returncode}"
                break
            if _listening(port):
                ended = f"listened on port {port}"
                _first_request(port)  # the classes that serve a request are archived too
                break
            time.sleep(0.1)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return ended


def make_archive(
    context: Any,
    jvm: InstalledJvm,
    classpath: Sequence[str],
    java_args: Sequence[str],
    *,
    key_files: Sequence[Path],
) -> LayerRef | None:
    """The ``cds`` launch layer with the app's archive, reused while the JRE and the JARs
    it covers are unchanged; None (and a warning) when the JVM could not make one."""
    jars = archived_jars(classpath)
    digest = _digest(key_files)
    expected = {"jre": jvm.dependency.checksum, "jars": digest, "classpath": ":".join(jars)}
    layer: LayerRef = context.layers.cached("cds", expected, launch=True)
    archive = layer.path / ARCHIVE
    if layer.reused and archive.is_file():
        return layer
    work = Path(tempfile.mkdtemp(prefix="cnbsdk-cds-"))
    try:
        for jar in jars:
            normalize_mtime(Path(jar))
        class_list = work / "classes.lst"
        started = time.monotonic()
        ended = training_run(
            jvm, java_args, class_list, cwd=context.app_dir, environ=dict(os.environ)
        )
        if not class_list.is_file():
            context.logger.warning(f"no class-data-sharing archive: the training run {ended}")
            return None
        dump = subprocess.run(
            [
                str(jvm.java),
                NO_PERF_DATA,
                "-Xshare:dump",
                f"-XX:SharedClassListFile={class_list}",
                f"-XX:SharedArchiveFile={archive}",
                "-cp",
                ":".join(jars),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if dump.returncode != 0 or not archive.is_file():
            last = (dump.stdout + dump.stderr).strip().splitlines()[-1:] or ["no output"]
            context.logger.warning(f"no class-data-sharing archive: -Xshare:dump said {last[0]}")
            return None
        count = sum(1 for line in class_list.read_text().splitlines() if line and line[0] != "#")
        context.logger.detail(
            f"Made a class-data-sharing archive of {count} classes "
            f"(training run {ended}, {time.monotonic() - started:.1f} s)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    LayerEnv().append(
        "JAVA_TOOL_OPTIONS", f"-XX:SharedArchiveFile={archive}", " ", scope=Scope.LAUNCH
    ).write(layer.path)
    return layer
