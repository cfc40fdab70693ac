"""Which kind of Java app the workspace holds, decided from its files alone.

- ``maven``: a ``pom.xml`` (or ``mvnw``): built from source, then one of the others;
- ``jar``: one ``*.jar`` file at the top of the app;
- ``exploded``: ``META-INF/MANIFEST.MF`` at the top (what ``cnbsdk build app.jar`` gives);
- Spring Boot is recognised later, by layout (``BOOT-INF/``), in either JAR form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnbsdk_java.manifest import MANIFEST

MAVEN_MARKERS = ("pom.xml", "mvnw")


@dataclass(frozen=True)
class JavaApp:
    """The kind of app and the file that made it so."""

    kind: str  # "maven", "jar" or "exploded"
    path: Path  # pom.xml, the JAR file, or the app directory


def find_app(app_dir: Path) -> JavaApp | str:
    """The app found in ``app_dir``, or why there is none (a detect-fail reason)."""
    for marker in MAVEN_MARKERS:
        if (app_dir / marker).is_file():
            return JavaApp("maven", app_dir / marker)
    if (app_dir / MANIFEST).is_file():
        return JavaApp("exploded", app_dir)
    jars = sorted(p for p in app_dir.glob("*.jar") if p.is_file())
    if len(jars) == 1:
        return JavaApp("jar", jars[0])
    if len(jars) > 1:
        names = ", ".join(p.name for p in jars)
        return f"several JAR files ({names}) and no pom.xml: which one is the app?"
    return "no pom.xml, mvnw, META-INF/MANIFEST.MF or *.jar file"
