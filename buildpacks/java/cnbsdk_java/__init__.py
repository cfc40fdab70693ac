"""cnbsdk/java: Java apps built the way Paketo's Java buildpacks do.

Hooks only; each step lives in its own module: ``app`` (what the workspace holds),
``versions`` (which Java), ``jvm`` (the JRE and JDK layers), ``maven`` (building from
source), ``layout`` (how ``java`` starts the app, Spring Boot's layers), ``memory`` (the
memory calculator at start), ``cds`` (class-data sharing), ``sbom``. docs/java.md is the
user's manual.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cnbsdk.buildpack import (
    BuildContext,
    BuildpackError,
    BuildResult,
    DetectContext,
    DetectResult,
    Process,
    Sbom,
    hookimpl,
)
from cnbsdk.buildpack.dependency_layer import dependency_component
from cnbsdk.deps import Dependencies
from cnbsdk.deps.planner import plan_version
from cnbsdk_java.app import JavaApp, find_app
from cnbsdk_java.cds import make_archive
from cnbsdk_java.jvm import install_jdk, install_jre, jvm_class_count
from cnbsdk_java.layout import count_classes, exploded_launch, jar_launch
from cnbsdk_java.maven import build_app
from cnbsdk_java.memory import install_memory_calculator
from cnbsdk_java.sbom import maven_components
from cnbsdk_java.versions import jdk_requests, jvm_requests


@hookimpl
def detect(context: DetectContext) -> DetectResult:
    found = find_app(context.app_dir)
    if isinstance(found, str):
        return DetectResult.fail(found)
    return DetectResult.passed(provides=["jvm-application"], requires=["jvm-application"])


def _enabled(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "true").strip().lower() not in ("false", "0", "no", "off")


@hookimpl
def build(context: BuildContext) -> BuildResult:
    logger = context.logger
    environ = {**context.platform_env, **context.environ}
    found = find_app(context.app_dir)
    if isinstance(found, str):
        raise BuildpackError(found)
    dependencies = Dependencies.from_context(context)
    pom = context.app_dir / "pom.xml" if found.kind == "maven" else None
    manifest_source = None if found.kind == "maven" else found.path
    jre_plan = plan_version(
        dependencies,
        "jre",
        jvm_requests(environ, pom, manifest_source),
        name="Java",
        logger=logger,
    )

    if found.kind == "maven":
        assert pom is not None
        jdk_dependency = plan_version(
            dependencies, "jdk", jdk_requests(pom), name="JDK", logger=logger
        ).dependency
        runtime = dependencies.resolve("jdk-runtime", f"={jdk_dependency.version}")
        jdk = install_jdk(context, jdk_dependency, runtime)
        maven = dependencies.resolve("maven", "")
        found = JavaApp("jar", build_app(context, jdk, maven, environ))

    jre = install_jre(context, jre_plan.dependency)
    launch = jar_launch(context, found.path) if found.kind == "jar" else exploded_launch(context)
    logger.process(f"Launching the {launch.description}")
    classes = jvm_class_count(jre.home) + count_classes(launch.classpath)
    install_memory_calculator(context, classes)
    if _enabled(environ, "BP_JVM_CDS_ENABLED"):
        make_archive(context, jre, launch.classpath, launch.java_args, key_files=launch.stable_jars)
    else:
        logger.process("Class-data sharing off (BP_JVM_CDS_ENABLED=false)")

    command = ["java", *launch.java_args]
    processes = [
        Process("web", command, default=True),
        Process("executable-jar", command),
    ]
    libraries = maven_components([Path(p) for p in launch.classpath])
    return BuildResult(
        processes=processes,
        launch_sbom=[Sbom.cyclonedx([dependency_component(jre.dependency), *libraries])],
    )
