"""cnbsdk: a Python toolkit for Cloud Native Buildpacks."""

__version__ = "0.1.0"
