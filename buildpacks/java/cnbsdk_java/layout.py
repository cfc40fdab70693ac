"""How the app is started: the ``java`` arguments and classpath for each kind of JAR.

- an executable JAR file: ``java -jar app.jar``;
- an exploded JAR (``META-INF/MANIFEST.MF`` in the app): ``java -cp <app>:<Class-Path>
  Main-Class``;
- a Spring Boot fat JAR (``BOOT-INF/``, as a file or exploded): its ``BOOT-INF/lib`` JARs
  move to a layer of their own, keyed on their contents, and the app keeps only
  ``BOOT-INF/classes``, so a code change re-exports the small app layer alone;
  ``java -cp <dependency JARs>:BOOT-INF/classes Start-Class``.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnbsdk.buildpack import BuildpackError, LayerRef
from cnbsdk.deps.archive import install_artifact
from cnbsdk_java.manifest import MANIFEST, read_manifest

SPRING_LOADERS = ("org.springframework.boot.loader.",)


@dataclass(frozen=True)
class Launch:
    """What ``java`` is given, the classpath it amounts to, and the JARs that stay the same
    when only the app's code changes (the CDS archive's key)."""

    java_args: tuple[str, ...]
    classpath: tuple[str, ...]
    description: str
    stable_jars: tuple[Path, ...] = field(default_factory=tuple)


def _is_spring_boot_jar(jar: Path) -> bool:
    try:
        with zipfile.ZipFile(jar) as archive:
            return any(name.startswith("BOOT-INF/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _main_class(manifest: dict[str, str] | None, where: str) -> str:
    main = (manifest or {}).get("Main-Class", "")
    if not main:
        raise BuildpackError(
            "the manifest has no Main-Class: not an executable JAR (add one to the JAR's"
            " manifest, e.g. with the maven-jar-plugin's <mainClass>)",
            file=where,
        )
    return main


def _class_path_entries(manifest: dict[str, str] | None, base: Path) -> list[str]:
    entries = []
    for entry in (manifest or {}).get("Class-Path", "").split():
        path = (base / entry).resolve()
        if path.exists():
            entries.append(str(path))
    return entries


def jar_launch(context: Any, jar: Path) -> Launch:
    """An executable JAR file in the app (a Spring Boot one is exploded first)."""
    if _is_spring_boot_jar(jar):
        context.logger.process(f"Exploding the Spring Boot JAR {jar.name}")
        install_artifact(jar, context.app_dir)
        jar.unlink()
        return spring_boot_launch(context)
    manifest = read_manifest(jar)
    main = _main_class(manifest, f"{jar.name}!/{MANIFEST}")
    classpath = (str(jar), *_class_path_entries(manifest, jar.parent))
    return Launch(
        ("-jar", str(jar)),
        classpath,
        f"executable JAR {jar.name} (Main-Class {main})",
        tuple(Path(p) for p in classpath if p.endswith(".jar")),
    )


def exploded_launch(context: Any) -> Launch:
    """An exploded JAR: the app directory is the classpath's first entry."""
    app: Path = context.app_dir
    if (app / "BOOT-INF").is_dir():
        return spring_boot_launch(context)
    manifest = read_manifest(app)
    main = _main_class(manifest, str(app / MANIFEST))
    classpath = (str(app), *_class_path_entries(manifest, app))
    return Launch(
        ("-cp", ":".join(classpath), main),
        classpath,
        f"exploded JAR (Main-Class {main})",
        tuple(Path(p) for p in classpath if p.endswith(".jar")),
    )


def _jar_order(boot_inf: Path, lib: Path) -> list[Path]:
    """``BOOT-INF/classpath.idx`` order when there is one, else by name."""
    jars = sorted(p for p in lib.glob("*.jar") if p.is_file())
    index = boot_inf / "classpath.idx"
    if not index.is_file():
        return jars
    listed = []
    for line in index.read_text().splitlines():
        name = line.strip().removeprefix("- ").strip('"').rsplit("/", 1)[-1]
        if name and (lib / name).is_file():
            listed.append(lib / name)
    return listed + [jar for jar in jars if jar not in listed]


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "sha256:" + digest.hexdigest()


def spring_boot_launch(context: Any) -> Launch:
    """A Spring Boot fat JAR's layout: dependencies in a layer, classes in the app."""
    app: Path = context.app_dir
    boot_inf = app / "BOOT-INF"
    manifest = read_manifest(app) or {}
    main = manifest.get("Start-Class") or manifest.get("Main-Class", "")
    if not main or main.startswith(SPRING_LOADERS):
        raise BuildpackError(
            "a Spring Boot JAR needs a Start-Class (the app's main class) in its manifest",
            file=str(app / MANIFEST),
        )
    lib = boot_inf / "lib"
    jars = _jar_order(boot_inf, lib) if lib.is_dir() else []
    layer: LayerRef = context.layers.cached(
        "spring-dependencies", {"jars": _digest(jars), "count": len(jars)}, launch=True
    )
    if not layer.reused:
        (layer.path / "lib").mkdir(parents=True, exist_ok=True)
        for jar in jars:
            shutil.copyfile(jar, layer.path / "lib" / jar.name)
    if lib.is_dir():
        shutil.rmtree(lib)
    moved = [layer.path / "lib" / jar.name for jar in jars]
    classpath = (*(str(p) for p in moved), str(boot_inf / "classes"))
    return Launch(
        ("-cp", ":".join(classpath), main),
        classpath,
        f"Spring Boot JAR (Start-Class {main}, {len(moved)} dependency JARs in their own layer)",
        tuple(moved),
    )


def count_classes(classpath: tuple[str, ...]) -> int:
    """The ``.class`` files of the classpath's JARs and directories."""
    count = 0
    for entry in classpath:
        path = Path(entry)
        if path.is_dir():
            count += sum(1 for _ in path.rglob("*.class"))
        elif path.is_file():
            try:
                with zipfile.ZipFile(path) as jar:
                    count += sum(1 for name in jar.namelist() if name.endswith(".class"))
            except (zipfile.BadZipFile, OSError):
                continue
    return count
