"""Building a Maven project: Maven from the catalog, ``~/.m2`` in a cache layer, the
settings from a ``maven`` binding or ``BP_MAVEN_SETTINGS_PATH``, and the source tree
replaced by the one artifact Maven built.

The compiled artifact is cached too, keyed on the source files, the JDK, Maven, the
arguments and the settings: a rebuild with nothing changed does not run Maven.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError, LayerRef
from cnbsdk.buildpack.cache_keys import files_digest
from cnbsdk.buildpack.log import ACTION
from cnbsdk.buildpack.tools import redact
from cnbsdk.deps import Dependencies
from cnbsdk.spec.buildpack_toml import Dependency
from cnbsdk_java.jvm import NO_PERF_DATA, InstalledJvm
from cnbsdk_java.manifest import read_manifest
from cnbsdk_java.wrapper import install_wrapper_maven, wrapper_distribution

DEFAULT_ARGUMENTS = "-Dmaven.test.skip=true --no-transfer-progress package"
DEFAULT_ARTIFACT = "target/*.[ejw]ar"
MAVEN_HOME = "usr/share/maven"
PART_PREFIX = "maven-part-"
_SECRET = re.compile(r"<(password|passphrase|privateKey)>([^<]+)</\1>")


def install_maven(context: Any, maven: Dependency) -> Path:
    """Maven and its libraries (Debian's packages) in the ``maven`` build layer; returns
    the ``mvn`` script."""
    dependencies = Dependencies.from_context(context)
    ids = {d.id for d in context.descriptor.metadata.dependencies if d.id.startswith(PART_PREFIX)}
    parts = [dependencies.resolve(dependency_id, "*") for dependency_id in sorted(ids)]
    expected = {d.id: f"{d.version} {d.checksum}" for d in [maven, *parts]}
    layer: LayerRef = context.layers.cached("maven", expected, build=True)
    if not layer.reused:
        for dependency in [maven, *parts]:  # .deb files, unpacked with the layer as root
            dependencies.deliver(dependency, layer.path)
    mvn = layer.path / MAVEN_HOME / "bin" / "mvn"
    if not mvn.is_file():
        raise BuildpackError(
            f"the Maven packages have no {MAVEN_HOME}/bin/mvn", file=str(context.descriptor_file)
        )
    return mvn


def settings_file(context: Any, environ: Mapping[str, str]) -> Path | None:
    """``settings.xml`` from a binding of type ``maven``, else ``BP_MAVEN_SETTINGS_PATH``."""
    for binding in context.bindings_of_type("maven"):
        path = binding.entries.get("settings.xml")
        if path is not None:
            context.logger.process(f"Maven settings from the binding '{binding.name}'")
            return Path(path)
    wanted = environ.get("BP_MAVEN_SETTINGS_PATH", "").strip()
    if not wanted:
        return None
    path = Path(wanted) if os.path.isabs(wanted) else context.app_dir / wanted
    if not path.is_file():
        raise BuildpackError(f"BP_MAVEN_SETTINGS_PATH names {wanted}, which is not a file")
    context.logger.process("Maven settings from BP_MAVEN_SETTINGS_PATH")
    return path


def settings_secrets(path: Path | None) -> list[str]:
    """Passwords and pass-phrases in the settings: never shown in the log."""
    if path is None:
        return []
    return [m.group(2).strip() for m in _SECRET.finditer(path.read_text(errors="replace"))]


def _first_error(lines: Sequence[str]) -> str | None:
    """Maven's first ``[ERROR]`` line that says something (not a help link or a blank);
    a heading (``COMPILATION ERROR :``) with the line after it."""
    found: list[str] = []
    for line in lines:
        text = line.strip()
        if not text.startswith("[ERROR]"):
            continue
        text = text[len("[ERROR]") :].strip()
        if text and not text.startswith(("->", "[Help", "Re-run", "To see", "For more")):
            found.append(text)
            if not text.endswith(":"):
                break
    return " ".join(found) or None


def run_maven(
    context: Any, args: Sequence[str], env: Mapping[str, str], secrets: Sequence[str]
) -> None:
    """Run Maven with its output in the build log; a failure says Maven's first error."""
    command = redact(shlex.join(args), secrets)
    context.logger.subprocess(f"Running '{command}'")
    lines: list[str] = []
    process = subprocess.Popen(
        list(args),
        cwd=context.app_dir,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    assert process.stdout is not None
    for raw in process.stdout:
        line = redact(raw.rstrip("\n"), secrets)
        lines.append(line)
        context.logger.line(ACTION, line)
    status = process.wait()
    if status != 0:
        cause = _first_error(lines) or (lines[-1].strip() if lines else "no output")
        raise BuildpackError(f"Maven failed with exit status {status}: {cause}")


def built_artifact(app_dir: Path, pattern: str) -> Path:
    """The one file ``pattern`` matches; with several, the one executable JAR among them."""
    matches = sorted(Path(p) for p in glob.glob(str(app_dir / pattern)) if os.path.isfile(p))
    if len(matches) > 1:
        runnable = [
            p for p in matches if {"Main-Class", "Start-Class"} & set(read_manifest(p) or {})
        ]
        matches = runnable if runnable else matches
    if len(matches) != 1:
        found = ", ".join(str(p.relative_to(app_dir)) for p in matches) or "nothing"
        raise BuildpackError(
            f"BP_MAVEN_BUILT_ARTIFACT {pattern!r} must match one file; it matches {found}"
        )
    return matches[0]


def _file_digest(path: Path | None) -> str:
    if path is None:
        return ""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def build_app(
    context: Any,
    jdk: InstalledJvm,
    maven: Dependency,
    environ: Mapping[str, str],
) -> Path:
    """Build the app with Maven (or reuse the cached build of the same sources) and
    replace the source tree with the artifact; returns the artifact in the app dir."""
    wrapper = wrapper_distribution(context.app_dir)
    if isinstance(wrapper, Dependency):
        context.logger.process(f"Using the Maven wrapper's distribution (Maven {wrapper.version})")
        mvn, distribution = install_wrapper_maven(context, wrapper), wrapper
    else:
        if wrapper is not None:
            context.logger.process(f"Not using mvnw: {wrapper}")
        context.logger.process(f"Using Maven {maven.version} from the catalog")
        mvn, distribution = install_maven(context, maven), maven
    repository = context.layers.cached("maven-repository").path  # ~/.m2, cache only
    settings = settings_file(context, environ)
    arguments = shlex.split(environ.get("BP_MAVEN_BUILD_ARGUMENTS", "") or DEFAULT_ARGUMENTS)
    pattern = environ.get("BP_MAVEN_BUILT_ARTIFACT", "").strip() or DEFAULT_ARTIFACT
    app_dir: Path = context.app_dir
    expected = {
        "sources": files_digest(app_dir, ["**"], exclude=["target", ".git"]),
        "jdk": jdk.dependency.checksum,
        "maven": distribution.checksum,
        "arguments": arguments,
        "artifact": pattern,
        "settings": _file_digest(settings),
    }
    built: LayerRef = context.layers.cached("maven-build", expected)
    cached = sorted(p for p in built.path.glob("*") if p.is_file())
    if built.reused and len(cached) == 1:
        context.logger.process(f"Reusing {cached[0].name}: the sources are unchanged")
        artifact = cached[0]
    else:
        secrets = settings_secrets(settings)
        args = [str(mvn), "--batch-mode", f"-Dmaven.repo.local={repository}"]
        if settings is not None:
            args += ["--settings", str(settings)]
        env = {
            **os.environ,
            "JAVA_HOME": str(jdk.home),
            "PATH": f"{jdk.home / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "MAVEN_SKIP_RC": "true",
            "MAVEN_OPTS": f"{os.environ.get('MAVEN_OPTS', '')} {NO_PERF_DATA}".strip(),
        }
        run_maven(context, [*args, *arguments], env, secrets)
        produced = built_artifact(app_dir, pattern)
        for old in cached:
            old.unlink()
        artifact = built.path / produced.name
        shutil.copyfile(produced, artifact)
    context.logger.process(f"Replacing the source tree with {artifact.name}")
    for entry in list(app_dir.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    placed = app_dir / artifact.name
    shutil.copyfile(artifact, placed)
    return placed
