"""CPython for the app: the interpreter the stack's build image carries, made relocatable.

The run image has no Python, and Debian replaces its ``python3.X`` packages (security
updates) without notice, after which a pinned ``.deb`` is gone from the archive. So the
interpreter is not a pinned download: it is the build image's own Debian CPython
(``/usr/bin/python3.X`` and ``/usr/lib/python3.X``), copied into the ``cpython`` launch
layer together with the shared libraries its extension modules need that the run image
lacks. It is offered to the version planner as one more catalog entry
(``uri = "stack:/usr/bin/python3.11"``), so ``BP_CPYTHON_VERSION`` and the version files
choose among it and any ``cpython`` entries of ``[[metadata.dependencies]]`` (installed
like any catalog artifact) in one place, with one error listing what there is.

The layer is keyed on the interpreter's Debian version and the binary's checksum: a
patched build image rebuilds it (and, through the venv key, the app's packages).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from cnbsdk.buildpack import BuildpackError, Component, LayerEnv, Scope
from cnbsdk.buildpack.layers import LayerRef
from cnbsdk.deps import Dependencies
from cnbsdk.spec.buildpack_toml import Dependency

STACK_SCHEME = "stack:"
LAYER_FORMAT = 1  # bump when the layout of the cpython layer changes

# The libraries of the packages the stack's run image is defined with
# (cnbsdk/stacks/definitions/bookworm: libc6, libssl3, libffi8, ...): not copied.
# Anything else an extension module links (libdb for dbm.ndbm, libnsl and libtirpc for nis)
# goes into the layer. A test imports every extension module on the run image.
RUN_IMAGE_LIBRARIES = frozenset(
    {
        "linux-vdso.so.1",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
        "libc.so.6",
        "libm.so.6",
        "libpthread.so.0",
        "libdl.so.2",
        "librt.so.1",
        "libutil.so.1",
        "libresolv.so.2",
        "libanl.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libatomic.so.1",
        "libz.so.1",
        "libssl.so.3",
        "libcrypto.so.3",
        "libffi.so.8",
        "libbz2.so.1.0",
        "liblzma.so.5",
        "libsqlite3.so.0",
        "libexpat.so.1",
        "libuuid.so.1",
        "libncursesw.so.6",
        "libpanelw.so.6",
        "libtinfo.so.6",
        "libreadline.so.8",
        "libcrypt.so.1",
    }
)

# Left out of the copy: Debian's PEP 668 marker, its apport hook (a link into /etc), tests.
_SKIPPED = ("EXTERNALLY-MANAGED", "sitecustomize.py", "test", "idlelib", "__pycache__")
_LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(")


@dataclass(frozen=True)
class StackPython:
    """The build image's Debian CPython."""

    executable: Path  # /usr/bin/python3.11
    stdlib: Path  # /usr/lib/python3.11
    version: str  # 3.11.2
    debian_version: str  # 3.11.2-6+deb12u9 ("" when dpkg's status does not say)
    package: str  # python3.11
    distro: str  # debian-12
    arch: str  # amd64

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def dependency(self) -> Dependency:
        """This interpreter as a catalog entry (checksum: the binary's)."""
        purl = ""
        if self.debian_version:
            version = self.debian_version.replace("+", "%2B")
            purl = f"pkg:deb/debian/{self.package}@{version}?arch={self.arch}"
            if self.distro:
                purl += f"&distro={self.distro}"
        return Dependency(
            id="cpython",
            version=self.version,
            uri=STACK_SCHEME + str(self.executable),
            checksum="sha256:" + _sha256(self.executable),
            name="CPython",
            purl=purl,
            cpes=(f"cpe:2.3:a:python:python:{self.version}:*:*:*:*:*:*:*",),
            licenses=("PSF-2.0",),
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _dpkg_fields(root: Path, package: str) -> dict[str, str]:
    """The dpkg status fields of ``package`` (distroless-style ``status.d`` or ``status``)."""
    candidates = [root / "var/lib/dpkg/status.d" / package, root / "var/lib/dpkg/status"]
    for path in candidates:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for paragraph in text.split("\n\n"):
            fields = {}
            for line in paragraph.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith(" "):
                    fields[key.strip()] = value.strip()
            if fields.get("Package") == package:
                return fields
    return {}


def _os_release(root: Path) -> str:
    """``debian-12`` from ``/etc/os-release``; "" when unknown."""
    values = {}
    for name in ("etc/os-release", "usr/lib/os-release"):
        try:
            text = (root / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key] = value.strip().strip('"')
        break
    if values.get("ID") and values.get("VERSION_ID"):
        return f"{values['ID']}-{values['VERSION_ID']}"
    return ""


def find_stack_python(root: Path = Path("/")) -> StackPython | None:
    """The build image's ``python3`` (the one buildpacks run with), or None."""
    link = root / "usr/bin/python3"
    if not link.exists():
        return None
    executable = link.resolve()
    match = re.fullmatch(r"python(3\.\d+)", executable.name)
    if not match or not (root / "usr/lib" / executable.name / "os.py").is_file():
        return None
    try:
        run = subprocess.run(
            [str(executable), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    package = executable.name
    fields = _dpkg_fields(root, f"{package}-minimal") or _dpkg_fields(root, package)
    return StackPython(
        executable=executable,
        stdlib=root / "usr/lib" / executable.name,
        version=run.stdout.strip(),
        debian_version=fields.get("Version", ""),
        package=package,
        distro=_os_release(root),
        arch=fields.get("Architecture", ""),
    )


def with_stack_python(dependencies: Dependencies, stack: StackPython | None) -> Dependencies:
    """The catalog with the build image's CPython added as a ``cpython`` entry."""
    if stack is None:
        return dependencies
    metadata = dependencies.descriptor.metadata
    extended = replace(metadata, dependencies=(*metadata.dependencies, stack.dependency()))
    return replace(dependencies, descriptor=replace(dependencies.descriptor, metadata=extended))


def layer_key(dependency: Dependency, stack: StackPython | None) -> dict[str, str | int]:
    key: dict[str, str | int] = {
        "format": LAYER_FORMAT,
        "version": dependency.version,
        "checksum": dependency.checksum,
    }
    if stack is not None and dependency.uri.startswith(STACK_SCHEME):
        key["debian-version"] = stack.debian_version
    return key


def _copy_stdlib(source: Path, target: Path) -> None:
    def ignore(directory: str, names: list[str]) -> list[str]:
        skipped = [n for n in names if n in _SKIPPED]
        for name in names:  # links out of the tree (Debian's /etc ones) are left behind
            path = os.path.join(directory, name)
            if os.path.islink(path) and not os.path.realpath(path).startswith(str(source)):
                skipped.append(name)
        return skipped

    shutil.copytree(source, target, symlinks=True, ignore=ignore)


def needed_libraries(files: list[Path]) -> dict[str, Path]:
    """The shared libraries ``files`` load (transitively, by ``ldd``) that the run image
    lacks: soname → path in the build image."""
    found: dict[str, Path] = {}
    for start in range(0, len(files), 64):
        try:
            run = subprocess.run(
                ["ldd", *map(str, files[start : start + 64])],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError:
            return {}  # no ldd: nothing more is copied (the run image must carry them)
        for line in run.stdout.splitlines():
            match = _LDD_LINE.match(line)
            if match and match.group(1) not in RUN_IMAGE_LIBRARIES:
                found.setdefault(match.group(1), Path(match.group(2)))
    return found


def install_stack_python(stack: StackPython, layer: LayerRef, logger: object) -> list[str]:
    """Copy the interpreter, its standard library and the libraries the run image lacks
    into ``layer``; returns the sonames copied."""
    path = layer.path
    (path / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(stack.executable, path / "bin" / stack.package)
    for alias in ("python3", "python"):
        os.symlink(stack.package, path / "bin" / alias)
    stdlib = path / "lib" / stack.stdlib.name
    _copy_stdlib(stack.stdlib, stdlib)
    modules = sorted((stdlib / "lib-dynload").glob("*.so"))
    libraries = needed_libraries([stack.executable, *modules])
    if libraries:
        bundled = path / "lib" / "bundled"
        bundled.mkdir()
        for soname, source in sorted(libraries.items()):
            shutil.copy2(source, bundled / soname)
    return sorted(libraries)


def bundled_sonames(layer: LayerRef) -> list[str]:
    bundled = layer.path / "lib" / "bundled"
    return sorted(p.name for p in bundled.iterdir()) if bundled.is_dir() else []


def stack_headers(stack: StackPython | None, root: Path = Path("/")) -> Path | None:
    """The build image's ``Python.h`` directory for this interpreter (Debian's
    ``libpython3.X-dev``), or None: C extensions compile against it at build time."""
    if stack is None:
        return None
    headers = root / "usr/include" / stack.stdlib.name
    return headers if (headers / "Python.h").is_file() else None


def layer_env(layer: LayerRef, headers: Path | None = None) -> LayerEnv:
    """The interpreter's env: its bundled libraries found, unbuffered output at launch,
    and at build time the headers C extensions compile against (never in the image)."""
    env = LayerEnv()
    if bundled_sonames(layer):
        env.append("LD_LIBRARY_PATH", str(layer.path / "lib" / "bundled"), os.pathsep)
    if headers is not None:
        env.append("CPATH", str(headers), os.pathsep, Scope.BUILD)
    env.default("PYTHONUNBUFFERED", "1", Scope.LAUNCH)
    return env


def check_runs(layer: LayerRef, package: str) -> None:
    """The copied interpreter starts (from its new home) and finds its standard library."""
    executable = layer.path / "bin" / package
    run = subprocess.run(
        [str(executable), "-c", "import sys, encodings; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    if run.returncode != 0 or run.stdout.strip() != str(layer.path):
        cause = (run.stderr.strip().splitlines() or [run.stdout.strip()])[-1:]
        raise BuildpackError(
            f"the CPython copied into {layer.path} does not start from there: {cause}"
        )


def library_components(layer: LayerRef, sonames: list[str]) -> list[Component]:
    """The bundled libraries as SBOM components (file name and hash)."""
    bundled = layer.path / "lib" / "bundled"
    return [
        Component(name=soname, hashes={"sha256": _sha256(bundled / soname)}, type="file")
        for soname in sonames
        if (bundled / soname).is_file()
    ]
