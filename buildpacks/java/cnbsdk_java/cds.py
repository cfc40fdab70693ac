"""Application class-data sharing: a training run at build time, an archive used at launch.

The app is started once in the build until it listens on its port (then answers one
``GET /``), exits, or a time-out passes. When its classpath is JARs only (``java -jar``) and
the JVM is 13 or newer, the classes it loaded beyond the JVM's own archive are written at its
exit (``-XX:ArchiveClassesAtExit``: a dynamic archive on top of ``lib/server/classes.jsa``,
which the JRE layer makes). Otherwise the loaded classes are listed
(``-XX:DumpLoadedClassList``) and dumped into a static archive (``-Xshare:dump``, any JVM from
11 on) covering the classpath's leading JARs — with a directory first (an exploded JAR), the
JDK's classes only; a Spring Boot app's dependency JARs and not ``BOOT-INF/classes``. At
launch ``-XX:SharedArchiveFile`` maps them instead of loading them. The JVM checks the
archived JARs' sizes and times at start, which is why their times are set to the exporter's
before the training run.
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
    jvm_flags: Sequence[str],
    java_args: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str],
    timeout: float = TRAINING_SECONDS,
) -> str:
    """Run the app once with ``jvm_flags`` (what to dump); returns how the run ended."""
    port = _free_port()
    env = {k: v for k, v in environ.items() if k != "JAVA_TOOL_OPTIONS"}
    env.update(PORT=str(port), SERVER_PORT=str(port), JAVA_HOME=str(jvm.home))
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(
            [str(jvm.java), NO_PERF_DATA, *jvm_flags, *java_args],
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


def _dynamic_archive(
    context: Any, jvm: InstalledJvm, java_args: Sequence[str], archive: Path
) -> str | None:
    """The classes the training run loaded beyond the JVM's own archive, written when it
    exits (Java 13+, a classpath of JARs only): the JDK's classes stay shared too."""
    ended = training_run(
        jvm,
        [f"-XX:ArchiveClassesAtExit={archive}"],
        java_args,
        cwd=context.app_dir,
        environ=dict(os.environ),
    )
    if not archive.is_file():
        context.logger.warning(f"no class-data-sharing archive: the training run {ended}")
        return None
    return f"on top of the JVM's own (training run {ended})"


def _static_archive(
    context: Any,
    jvm: InstalledJvm,
    java_args: Sequence[str],
    jars: Sequence[str],
    archive: Path,
) -> str | None:
    """The classes the training run loaded, dumped into an archive of their own (any JVM
    from 11 on; the classpath's leading JARs only)."""
    work = Path(tempfile.mkdtemp(prefix="cnbsdk-cds-"))
    try:
        class_list = work / "classes.lst"
        ended = training_run(
            jvm,
            [f"-XX:DumpLoadedClassList={class_list}"],
            java_args,
            cwd=context.app_dir,
            environ=dict(os.environ),
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
        return f"of {count} classes (training run {ended})"
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
    base = jvm.home / "lib" / "server" / "classes.jsa"
    expected = {
        "jre": jvm.dependency.checksum,
        "jvm-archive": _digest([base]) if base.is_file() else "",
        "jars": _digest(key_files),
        "classpath": ":".join(jars),
    }
    layer: LayerRef = context.layers.cached("cds", expected, launch=True)
    archive = layer.path / ARCHIVE
    if layer.reused and archive.is_file():
        return layer
    for jar in jars:
        normalize_mtime(Path(jar))
    started = time.monotonic()
    if len(jars) == len(classpath) and int(jvm.major) >= 13 and base.is_file():
        made = _dynamic_archive(context, jvm, java_args, archive)
    else:
        made = _static_archive(context, jvm, java_args, jars, archive)
    if made is None:
        return None
    context.logger.detail(
        f"Made a class-data-sharing archive {made} ({time.monotonic() - started:.1f} s)"
    )
    LayerEnv().append(
        "JAVA_TOOL_OPTIONS", f"-XX:SharedArchiveFile={archive}", " ", scope=Scope.LAUNCH
    ).write(layer.path)
    return layer
