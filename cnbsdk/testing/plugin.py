"""The pytest11 plugin: fixtures for testing buildpacks (see docs/tutorial.md)."""
