"""Catalog dependencies from a Python package index (``pypi:/`` URIs, ``pypi:`` sources) and
from Debian archives (``deb:/`` URIs, ``debian:`` sources, ``.deb`` files installed into a
layer), against a package index and an apt repository the tests make."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from cnbsdk.cli.main import cli
from cnbsdk.deps import Dependencies, DependencyError
from cnbsdk.deps.archive import install_artifact
from cnbsdk.deps.host_registries import host_debian_mirrors, registry_env
from cnbsdk.deps.pypi_index import find_file_url
from cnbsdk.deps.registries import resolve_registry_uris
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from tests.pypi_index import PackageIndex
from tests.stacks.local_apt import LocalAptRepo


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def wheel(name: str, version: str) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:  # fixed times: the same bytes every call
        zipped.writestr(
            zipfile.ZipInfo(f"{name}/__init__.py", (1980, 1, 1, 0, 0, 0)),
            f"VERSION = {version!r}\n",
        )
        zipped.writestr(
            zipfile.ZipInfo(f"{name}-{version}.dist-info/METADATA", (1980, 1, 1, 0, 0, 0)),
            f"Name: {name}\nVersion: {version}\n",
        )
    return f"{name}-{version}-py3-none-manylinux_2_17_x86_64.whl", buffer.getvalue()


def descriptor(uri: str, checksum: str, version: str = "1.1.0") -> BuildpackDescriptor:
    return BuildpackDescriptor.from_toml(
        f"""api = "0.10"
[buildpack]
id = "examples/tools"
version = "1.0.0"
[[metadata.dependencies]]
id = "tool"
version = "{version}"
uri = "{uri}"
checksum = "{checksum}"
"""
    )


def test_a_pypi_uri_is_found_in_the_index_json_html_or_a_directory(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    name, data = wheel("fake_tool", "1.1.0")
    package_index.add("fake-tool", name, data)
    for index in (package_index.url, package_index.file_url):
        url = find_file_url(index, "Fake_Tool", name)
        assert url.endswith(f"/fake-tool/{name}"), url
    # An index that answers HTML only (PEP 503) is read from its links.
    assert find_file_url(package_index.url, "fake-tool", name) == (
        package_index.url.removesuffix("/simple") + f"/files/fake-tool/{name}"
    )
    deps = Dependencies(
        descriptor(f"pypi:/fake-tool/{name}", sha(data)),
        tmp_path,
        environ={"BP_PYPI_INDEX": package_index.url},
    )
    fetched = deps.fetch(deps.resolve("tool"), tmp_path / "out")
    assert fetched.read_bytes() == data
    with pytest.raises(DependencyError, match=r"fake_tool-9\.9\.9-.*\.whl is not in the index"):
        find_file_url(package_index.url, "fake-tool", name.replace("1.1.0", "9.9.9"))
    with pytest.raises(DependencyError, match="HTTP 404 for 'nothing-here'"):
        find_file_url(package_index.url, "nothing-here", name)


def test_pypi_and_deb_uris_need_their_repository_configured() -> None:
    with pytest.raises(DependencyError) as caught:
        resolve_registry_uris("pypi:/uv/uv-1.whl", {}, pypi_lookup=lambda *a: "")
    assert str(caught.value) == (
        "pypi:/uv/uv-1.whl: no Python package index is configured for this pypi: URI"
        " (set BP_PYPI_INDEX to its URL)"
    )
    with pytest.raises(DependencyError, match="pypi:/<project>/<file name>"):
        resolve_registry_uris("pypi:/uv", {"BP_PYPI_INDEX": "https://i.example.invalid"})
    with pytest.raises(DependencyError, match="no Debian archive is configured"):
        resolve_registry_uris("deb:/pool/main/a/a.deb", {})
    assert resolve_registry_uris(
        "deb:/pool/main/a/a.deb",
        {"BP_DEBIAN_MIRROR": "https://one.example.invalid/debian/ file:///srv/security"},
    ) == [
        "https://one.example.invalid/debian/pool/main/a/a.deb",
        "file:///srv/security/pool/main/a/a.deb",
    ]


def test_the_host_apt_sources_give_the_debian_mirrors(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text(
        "# comment\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one.example.invalid/debian bookworm main\n"
        "deb-src http://src.example.invalid/debian bookworm main\n"
    )
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (parts / "debian.sources").write_text(
        "Types: deb\nURIs: http://one.example.invalid/debian/\nSuites: bookworm-updates\n\n"
        "Types: deb\nURIs: http://two.example.invalid/debian-security\n"
        "Suites: bookworm-security\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example.invalid/x\nSuites: x\n"
    )
    assert host_debian_mirrors(sources, parts) == [
        "http://one.example.invalid/debian",
        "http://two.example.invalid/debian-security",
    ]
    given = {"BP_DEBIAN_MIRROR": "file:///srv/debian"}
    assert registry_env(["deb:/pool/x.deb"], given) == {}
    assert registry_env(["deb:/pool/x.deb"], {}, given) == given
    assert registry_env(["https://x.example.invalid/a.tgz"], {}) == {}


def _deb_with_links(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(
        "Package: fake-jre\nVersion: 17.0.1-1\nArchitecture: amd64\n"
        "Maintainer: t <t@example.invalid>\nDescription: test\n"
    )
    home = tree / "usr/lib/jvm/fake-17"
    (home / "bin").mkdir(parents=True)
    (home / "bin/java").write_text("#!/bin/sh\necho java\n")
    (home / "bin/java").chmod(0o755)
    (tree / "etc/fake-17").mkdir(parents=True)
    (tree / "etc/fake-17/security.properties").write_text("x=1\n")
    os.symlink("/etc/fake-17", home / "conf")  # absolute, as Debian's JDKs have them
    os.symlink("bin/java", home / "java")
    deb = tmp_path / "fake-jre_17.0.1-1_amd64.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(deb)],
        check=True,
        capture_output=True,
    )
    return deb


def test_a_deb_installs_with_the_layer_as_its_root(tmp_path: Path) -> None:
    deb = _deb_with_links(tmp_path)
    layer = tmp_path / "layer"
    install_artifact(deb, layer)
    home = layer / "usr/lib/jvm/fake-17"
    assert (home / "bin/java").read_text().startswith("#!/bin/sh")
    assert os.access(home / "bin/java", os.X_OK)
    assert os.readlink(home / "conf") == "../../../../etc/fake-17"
    assert (home / "conf/security.properties").read_text() == "x=1\n"
    assert not (layer / "DEBIAN").exists() and not (layer / "debian-binary").exists()
    # strip-components strips link targets as it strips every entry; one that would leave
    # the layer is refused.
    stripped = tmp_path / "stripped"
    install_artifact(deb, stripped, strip_components=1)
    assert os.readlink(stripped / "lib/jvm/fake-17/conf") == "../../../fake-17"
    assert (stripped / "lib/jvm/fake-17/conf/security.properties").is_file()
    with pytest.raises(DependencyError, match="points outside the layer"):
        install_artifact(deb, tmp_path / "too-far", strip_components=4)


def test_deb_uris_try_each_archive_in_turn(tmp_path: Path) -> None:
    deb = _deb_with_links(tmp_path)
    main, security = tmp_path / "main", tmp_path / "security"
    (security / "pool/main/f").mkdir(parents=True)
    main.mkdir()
    shutil.copyfile(deb, security / "pool/main/f" / deb.name)
    deps = Dependencies(
        descriptor(f"deb:/pool/main/f/{deb.name}", sha(deb.read_bytes()), "17.0.1"),
        tmp_path,
        environ={"BP_DEBIAN_MIRROR": f"{main.as_uri()} {security.as_uri()}"},
    )
    layer = tmp_path / "jre"
    deps.deliver(deps.resolve("tool"), layer)
    assert (layer / "usr/lib/jvm/fake-17/bin/java").is_file()
    shutil.rmtree(security)
    with pytest.raises(DependencyError) as caught:
        deps.fetch(deps.resolve("tool"), tmp_path / "again")
    assert str(caught.value).startswith(f"deb:/pool/main/f/{deb.name}: not fetched from any of 2")
    assert str(caught.value).endswith("run `cnbsdk deps update`)")
    assert "\n" not in str(caught.value)


UPDATE_BUILDPACK = """api = "0.10"

[buildpack]
id = "examples/tools"
version = "1.0.0"

[[metadata.dependency-constraints]]
id = "tool"
constraint = "1.*"
source = "pypi:fake-tool"
file = "*manylinux_2_17_x86_64.whl"
purl = "pkg:pypi/fake-tool@{version}"

[[metadata.dependency-constraints]]
id = "jre"
constraint = "17.*"
source = "debian:fake-jre"
purl = "pkg:deb/debian/fake-jre@{source_version}?arch=amd64"
"""


def test_deps_update_reads_a_package_index_and_apt_sources(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        name, data = wheel("fake_tool", version)
        package_index.add("fake-tool", name, data)
    package_index.add("fake-tool", "fake_tool-1.2.0rc1-py3-none-manylinux_2_17_x86_64.whl", b"x")
    package_index.add("fake-tool", "fake_tool-1.1.5-py3-none-win_amd64.whl", b"x")
    package_index.add("fake-tool", "fake_tool-1.1.6-py3-none-manylinux_2_17_x86_64.whl", b"x")
    package_index.yanked.add("fake_tool-1.1.6-py3-none-manylinux_2_17_x86_64.whl")
    repo = LocalAptRepo(tmp_path / "apt")
    repo.add("fake-jre", "1:17.0.13+11-1~deb12u1")
    repo.publish()
    buildpack = tmp_path / "bp"
    buildpack.mkdir()
    (buildpack / "buildpack.toml").write_text(UPDATE_BUILDPACK)
    result = CliRunner().invoke(
        cli,
        ["deps", "update", str(buildpack), "--apt-source", repo.source],
        env={"BP_PYPI_INDEX": package_index.url, "CNBSDK_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    assert "tool: added 1.1.0" in result.stdout and "jre: added 17.0.13+11" in result.stdout
    entries = {
        d.id: d
        for d in BuildpackDescriptor.read(buildpack / "buildpack.toml").metadata.dependencies
    }
    tool = entries["tool"]
    _, data = wheel("fake_tool", "1.1.0")
    assert (tool.version, tool.checksum, tool.purl) == (
        "1.1.0",
        sha(data),
        "pkg:pypi/fake-tool@1.1.0",
    )
    assert tool.uri == "pypi:/fake-tool/fake_tool-1.1.0-py3-none-manylinux_2_17_x86_64.whl"
    jre = entries["jre"]
    deb = repo.packages[("fake-jre", "1:17.0.13+11-1~deb12u1")]
    assert (jre.version, jre.uri, jre.checksum, jre.arch) == (
        "17.0.13+11",
        f"deb:/{deb.name}",
        sha(deb.read_bytes()),
        "amd64",
    )
    assert jre.purl == "pkg:deb/debian/fake-jre@1:17.0.13+11-1~deb12u1?arch=amd64"


def test_a_pypi_source_needs_a_file_glob(tmp_path: Path) -> None:
    (tmp_path / "buildpack.toml").write_text(
        UPDATE_BUILDPACK.replace('file = "*manylinux_2_17_x86_64.whl"\n', "")
    )
    result = CliRunner().invoke(cli, ["deps", "update", str(tmp_path)])
    assert result.exit_code != 0
    assert (
        "metadata.dependency-constraints[0].file: is required for a pypi: source" in result.output
    )


def test_offline_packaging_bundles_pypi_and_deb_files(
    package_index: PackageIndex, tmp_path: Path
) -> None:
    from cnbsdk.deps import bundle_dependencies, offline_artifact

    name, data = wheel("fake_tool", "1.1.0")
    package_index.add("fake-tool", name, data)
    deb = _deb_with_links(tmp_path)
    archive = tmp_path / "archive"
    (archive / "pool").mkdir(parents=True)
    shutil.copyfile(deb, archive / "pool" / deb.name)
    catalog = descriptor(f"pypi:/fake-tool/{name}", sha(data)).metadata.dependencies + (
        descriptor(f"deb:/pool/{deb.name}", sha(deb.read_bytes()), "17.0.1").metadata.dependencies
    )
    environ = {"BP_PYPI_INDEX": package_index.url, "BP_DEBIAN_MIRROR": archive.as_uri()}
    buildpack = tmp_path / "bp"
    files = bundle_dependencies(catalog, buildpack, environ=environ)
    assert sorted(f.name for f in files) == sorted([name, deb.name])
    for dependency in catalog:
        bundled = offline_artifact(buildpack, dependency)
        assert bundled is not None and sha(bundled.read_bytes()) == dependency.checksum


def test_a_shared_download_cache_serves_the_next_build(tmp_path: Path) -> None:
    from tests.deps.http_files import FileServer

    server = FileServer(tmp_path / "served")
    try:
        name, data = wheel("fake_tool", "1.1.0")
        url = server.put(name, data)
        shared = tmp_path / "shared"
        environ = {"CNBSDK_DEPENDENCY_CACHE": str(shared)}
        for round_ in range(2):
            deps = Dependencies(descriptor(url, sha(data)), tmp_path, environ=environ)
            fetched = deps.fetch(deps.resolve("tool"), tmp_path / f"out{round_}")
            assert fetched.read_bytes() == data
        assert len(server.requests) == 1, "the second build used the shared copy"
        kept = shared / sha(data).partition(":")[2] / name
        kept.write_bytes(b"damaged")
        deps.fetch(deps.resolve("tool"), tmp_path / "out3")
        assert len(server.requests) == 2 and kept.read_bytes() == data, "fetched again, replaced"
    finally:
        server.stop()
