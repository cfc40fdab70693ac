"""The Java buildpack's fixtures (java_fixtures.py): the local Debian archive and package
index the catalog points at, the Maven mirror on loopback, the test JARs."""

from java_fixtures import executable_jar, java_sources, maven_mirror

__all__ = ["executable_jar", "java_sources", "maven_mirror"]
