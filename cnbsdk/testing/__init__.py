"""Test helpers for buildpack authors, shipped as a pytest plugin."""
