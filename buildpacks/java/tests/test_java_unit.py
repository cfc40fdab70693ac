"""Unit tests of the Java buildpack's parts: manifests, pom.xml, version sources, the JKS
trust store (read back by the host's keytool), the memory calculator (run by dash, as the
run image runs it), the SBOM scan, Maven's artifact and error, and detect through the cnbsdk
pytest plugin (bin/detect as the lifecycle runs it)."""

from __future__ import annotations

import io
import subprocess
import tempfile
import zipfile
from pathlib import Path

import pytest
from cnbsdk_java.app import JavaApp, find_app
from cnbsdk_java.cds import archived_jars
from cnbsdk_java.jvm import jvm_class_count
from cnbsdk_java.manifest import parse_manifest, read_manifest
from cnbsdk_java.maven import _first_error, built_artifact, settings_secrets
from cnbsdk_java.memory import memory_program
from cnbsdk_java.pom import compiler_release
from cnbsdk_java.sbom import maven_components
from cnbsdk_java.truststore import jks_bytes, write_trust_store
from cnbsdk_java.versions import as_constraint, jdk_requests, jvm_requests
from cnbsdk_java.wrapper import wrapper_distribution

from cnbsdk.buildpack.launch_shell import shell_program
from cnbsdk.errors import BuildpackError
from cnbsdk.spec.buildpack_toml import Dependency

BUILDPACK = "cnbsdk_java"
OS_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def _jar(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as jar:
        for name, data in files.items():
            jar.writestr(name, data)
    return path


def _pom(path: Path, properties: str = "", plugins: str = "") -> Path:
    path.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        f"<properties>{properties}</properties><build><plugins>{plugins}</plugins></build>"
        "</project>"
    )
    return path


def test_manifest_main_section_with_continuation_lines() -> None:
    text = (
        "Manifest-Version: 1.0\r\nMain-Class: com.example.VeryLongPackageName.Appl\r\n"
        " ication\r\nClass-Path: lib/a.jar\r\n\r\nName: other/\r\nMain-Class: not.This\r\n"
    )
    assert parse_manifest(text) == {
        "Manifest-Version": "1.0",
        "Main-Class": "com.example.VeryLongPackageName.Application",
        "Class-Path": "lib/a.jar",
    }


def test_manifest_from_a_jar_or_a_directory(tmp_path: Path) -> None:
    jar = _jar(tmp_path / "a.jar", {"META-INF/MANIFEST.MF": "Main-Class: a.B\n"})
    assert read_manifest(jar) == {"Main-Class": "a.B"}
    assert read_manifest(_jar(tmp_path / "b.jar", {"x.txt": ""})) is None
    (tmp_path / "dir/META-INF").mkdir(parents=True)
    (tmp_path / "dir/META-INF/MANIFEST.MF").write_text("Start-Class: c.D\n")
    assert read_manifest(tmp_path / "dir") == {"Start-Class": "c.D"}
    (tmp_path / "broken.jar").write_bytes(b"not a zip")
    assert read_manifest(tmp_path / "broken.jar") is None


@pytest.mark.parametrize(
    ("properties", "plugins", "expected"),
    [
        ("<maven.compiler.release>21</maven.compiler.release>", "", ("21", "release")),
        ("<maven.compiler.target>1.8</maven.compiler.target>", "", ("8", "target")),
        (
            "<java.version>17</java.version>",
            "<plugin><artifactId>maven-compiler-plugin</artifactId>"
            "<configuration><release>${java.version}</release></configuration></plugin>",
            ("17", "maven-compiler-plugin <release>"),
        ),
        ("<other>1</other>", "", None),
    ],
)
def test_the_java_release_from_pom_xml(
    tmp_path: Path, properties: str, plugins: str, expected: tuple[str, str] | None
) -> None:
    release = compiler_release(_pom(tmp_path / "pom.xml", properties, plugins))
    if expected is None:
        assert release is None
    else:
        assert release is not None
        assert release.major == expected[0] and expected[1] in release.source


def test_an_invalid_pom_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "pom.xml").write_text("<project><build></project>")
    with pytest.raises(BuildpackError) as caught:
        compiler_release(tmp_path / "pom.xml")
    assert str(caught.value).startswith(f"{tmp_path / 'pom.xml'}: invalid XML: mismatched tag")


def test_version_sources_in_priority_order(tmp_path: Path) -> None:
    pom = _pom(tmp_path / "pom.xml", "<maven.compiler.release>21</maven.compiler.release>")
    jar = _jar(tmp_path / "a.jar", {"META-INF/MANIFEST.MF": "Build-Jdk-Spec: 1.8\n"})
    requests = jvm_requests({"BP_JVM_VERSION": "17"}, pom, jar)
    assert [(r.source, r.constraint) for r in requests if r] == [
        ("BP_JVM_VERSION", "17.*"),
        ("pom.xml maven.compiler.release", "21.*"),
        ("MANIFEST.MF Build-Jdk-Spec", "8.*"),
    ]
    assert [(r.source, r.constraint) for r in jdk_requests(pom) if r] == [
        ("pom.xml maven.compiler.release", ">=21")
    ]
    assert as_constraint("17.0.9") == "17.0.9" and as_constraint(" 25 ") == "25.*"


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"pom.xml": "<project/>"}, "maven"),
        ({"mvnw": "#!/bin/sh\n"}, "maven"),
        ({"META-INF/MANIFEST.MF": "Main-Class: a.B\n"}, "exploded"),
        ({"app.jar": b"PK", "README": ""}, "jar"),
    ],
)
def test_what_the_app_is(tmp_path: Path, files: dict[str, str | bytes], kind: str) -> None:
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data.encode() if isinstance(data, str) else data)
    found = find_app(tmp_path)
    assert isinstance(found, JavaApp) and found.kind == kind


def test_no_app_or_several_jars_say_why(tmp_path: Path) -> None:
    assert find_app(tmp_path) == "no pom.xml, mvnw, META-INF/MANIFEST.MF or *.jar file"
    (tmp_path / "a.jar").write_bytes(b"")
    (tmp_path / "b.jar").write_bytes(b"")
    assert (
        find_app(tmp_path)
        == "several JAR files (a.jar, b.jar) and no pom.xml: which one is the app?"
    )


def test_detect(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    result = run_detect(BUILDPACK, cnb_app({"pom.xml": "<project/>"}))
    assert result.passed, result.output
    assert [p.name for p in result.plan.provides] == ["jvm-application"]
    failed = run_detect(BUILDPACK, cnb_app({"package.json": "{}"}))
    assert failed.exit_code == 100
    assert "no pom.xml, mvnw, META-INF/MANIFEST.MF or *.jar file" in failed.output


def test_the_trust_store_is_a_jks_file_keytool_reads(tmp_path: Path) -> None:
    store = tmp_path / "cacerts"
    store.symlink_to("/nonexistent/cacerts")  # Debian's link is replaced, not followed
    count = write_trust_store(store, [OS_BUNDLE, OS_BUNDLE])
    expected = OS_BUNDLE.read_text().count("BEGIN CERTIFICATE")
    assert count == expected and not store.is_symlink()
    listing = subprocess.run(
        ["keytool", "-list", "-keystore", str(store), "-storepass", "changeit"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Your keystore contains {expected} entries" in listing
    assert "trustedCertEntry" in listing
    wrong = subprocess.run(
        ["keytool", "-list", "-keystore", str(store), "-storepass", "wrong-pass"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode != 0  # the integrity check is real
    assert jks_bytes([]) == jks_bytes([])  # reproducible: no timestamps


def _calculate(env: dict[str, str], classes: int = 20000) -> subprocess.CompletedProcess[str]:
    """Run the exec.d program under dash; stdout is what it wrote to fd 3 for the launcher."""
    with tempfile.TemporaryDirectory() as work:
        program = Path(work) / "memory-calculator"
        program.write_text(shell_program(memory_program(classes)))
        exported = Path(work) / "fd3"
        process = subprocess.run(
            ["dash", "-c", 'dash "$0" 3>"$1"', str(program), str(exported)],
            env={"PATH": "/usr/bin:/bin", **env},
            capture_output=True,
            text=True,
        )
        output = exported.read_text()
    return subprocess.CompletedProcess(process.args, process.returncode, output, process.stderr)


def test_the_memory_calculator_sizes_the_heap_to_the_limit() -> None:
    small = _calculate({"BPL_MEMORY_LIMIT": "256M"})
    assert small.returncode == 0, small.stderr
    # 256 - 10 direct - 53 metaspace (7000 classes) - 32 code cache - 64 threads = 97
    assert small.stdout == (
        'JAVA_TOOL_OPTIONS = "-XX:MaxDirectMemorySize=10M -Xmx97M -XX:MaxMetaspaceSize=53M'
        ' -XX:ReservedCodeCacheSize=32M -Xss1M"\n'
    )
    assert small.stderr == (
        "Calculated JVM memory configuration: -XX:MaxDirectMemorySize=10M -Xmx97M"
        " -XX:MaxMetaspaceSize=53M -XX:ReservedCodeCacheSize=32M -Xss1M (Total Memory: 256M,"
        " Thread Count: 64, Loaded Class Count: 7000, Headroom: 0%)\n"
    )
    big = _calculate(
        {
            "BPL_MEMORY_LIMIT": "1G",
            "BPL_JVM_THREAD_COUNT": "100",
            "BPL_JVM_HEAD_ROOM": "10",
            "JAVA_TOOL_OPTIONS": "-Dfoo=1",
        }
    )
    # 1024 - 102 head-room - 10 - 53 - 128 code cache - 100 threads = 631
    assert "-Dfoo=1 -XX:MaxDirectMemorySize=10M -Xmx631M" in big.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BPL_MEMORY_LIMIT": "100M"}, "JVM memory: 100M leaves no room for a heap after"),
        ({"BPL_MEMORY_LIMIT": "1G", "BPL_JVM_HEAD_ROOM": "x"}, "BPL_JVM_HEAD_ROOM=x: expected"),
        ({"BPL_MEMORY_LIMIT": "1G", "BPL_JVM_THREAD_COUNT": "0"}, "BPL_JVM_THREAD_COUNT=0:"),
        ({"BPL_MEMORY_LIMIT": "lots"}, "BPL_MEMORY_LIMIT=lots: expected bytes"),
    ],
)
def test_the_memory_calculator_refuses_what_cannot_work(env: dict[str, str], message: str) -> None:
    result = _calculate(env)
    assert result.returncode != 0 and message in result.stderr and result.stdout == ""


def test_the_memory_calculator_leaves_a_users_xmx() -> None:
    result = _calculate({"BPL_MEMORY_LIMIT": "1G", "JAVA_TOOL_OPTIONS": "-Xss2M -Xmx300m"})
    assert result.returncode == 0 and result.stdout == ""
    assert "-Xmx is set in JAVA_TOOL_OPTIONS" in result.stderr


def test_the_sbom_lists_pom_properties_in_jars_nested_jars_and_directories(tmp_path: Path) -> None:
    def props(group: str, artifact: str, version: str) -> str:
        return f"#Created by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as jar:
        jar.writestr("META-INF/maven/org.lib/lib/pom.properties", props("org.lib", "lib", "2.0"))
    fat = _jar(
        tmp_path / "fat.jar",
        {
            "META-INF/maven/com.app/app/pom.properties": props("com.app", "app", "1.0"),
            "BOOT-INF/lib/lib-2.0.jar": inner.getvalue(),
            "META-INF/maven/broken/x/pom.properties": "groupId=broken\n",
        },
    )
    classes = tmp_path / "classes/META-INF/maven/com.dir/d"
    classes.mkdir(parents=True)
    (classes / "pom.properties").write_text(props("com.dir", "d", "3"))
    found = maven_components([fat, tmp_path / "classes", fat])
    assert [(c.name, c.version, c.purl) for c in found] == [
        ("app", "1.0", "pkg:maven/com.app/app@1.0"),
        ("d", "3", "pkg:maven/com.dir/d@3"),
        ("lib", "2.0", "pkg:maven/org.lib/lib@2.0"),
    ]


def test_the_built_artifact_is_the_executable_one(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    _jar(tmp_path / "target/original-app.jar", {"META-INF/MANIFEST.MF": "Created-By: x\n"})
    _jar(tmp_path / "target/app.jar", {"META-INF/MANIFEST.MF": "Main-Class: a.B\n"})
    assert built_artifact(tmp_path, "target/*.[ejw]ar") == tmp_path / "target/app.jar"
    with pytest.raises(BuildpackError) as caught:
        built_artifact(tmp_path, "build/*.jar")
    assert (
        str(caught.value)
        == "BP_MAVEN_BUILT_ARTIFACT 'build/*.jar' must match one file; it matches nothing"
    )


def test_maven_errors_and_secrets(tmp_path: Path) -> None:
    lines = [
        "[INFO] BUILD FAILURE",
        "[ERROR] ",
        "[ERROR] COMPILATION ERROR :",
        "[ERROR] /workspace/src/A.java:[1,8] class expected",
        "[ERROR] -> [Help 1]",
    ]
    assert _first_error(lines) == "COMPILATION ERROR : /workspace/src/A.java:[1,8] class expected"
    assert _first_error(["[INFO] nothing"]) is None
    settings = tmp_path / "settings.xml"
    settings.write_text("<server><password>pa55</password><passphrase> key </passphrase></server>")
    assert settings_secrets(settings) == ["pa55", "key"]


def test_class_counts_and_the_archived_classpath(tmp_path: Path) -> None:
    modules = tmp_path / "lib/modules"
    modules.parent.mkdir()
    modules.write_bytes(
        bytes.fromhex("dadafeca")
        + (1 << 16).to_bytes(4, "little")
        + b"\0" * 4
        + (20877).to_bytes(4, "little")
    )
    assert jvm_class_count(tmp_path) == 20877
    assert jvm_class_count(tmp_path / "missing") == 0
    assert archived_jars(["/l/a.jar", "/l/b.jar", "/workspace", "/l/c.jar"]) == [
        "/l/a.jar",
        "/l/b.jar",
    ]
    assert archived_jars(["/workspace", "/l/a.jar"]) == []


def test_the_maven_wrapper_distribution_needs_its_checksum(tmp_path: Path) -> None:
    assert wrapper_distribution(tmp_path) is None
    (tmp_path / "mvnw").write_text("#!/bin/sh\n")
    properties = tmp_path / ".mvn/wrapper/maven-wrapper.properties"
    properties.parent.mkdir(parents=True)
    url = "https\\://maven.example.invalid/m2/apache-maven/3.9.6/apache-maven-3.9.6-bin.zip"
    properties.write_text(f"distributionUrl={url}\n")
    assert wrapper_distribution(tmp_path) == (
        ".mvn/wrapper/maven-wrapper.properties has no distributionSha256Sum to verify the"
        " download with"
    )
    properties.write_text(f"distributionUrl={url}\ndistributionSha256Sum={'ab' * 32}\n")
    found = wrapper_distribution(tmp_path)
    assert isinstance(found, Dependency)
    assert (found.version, found.uri, found.checksum, found.strip_components) == (
        "3.9.6",
        url.replace("\\", ""),
        "sha256:" + "ab" * 32,
        1,
    )
