"""examples/hello: your first buildpack (docs/tutorial.md walks through this file)."""

import subprocess
from pathlib import Path

from cnbsdk.buildpack import (
    BuildContext,
    BuildResult,
    Component,
    DetectContext,
    DetectResult,
    LayerEnv,
    Process,
    Sbom,
    Scope,
    hookimpl,
)

HELLO_VERSION = "1.0.0"
HELLO_SCRIPT = """#!/bin/sh
# hello: greets the visitor, then prints the app's hello.txt.
echo "$HELLO_GREETING, ${HELLO_NAME:-world}!"
cat hello.txt
"""
SERVER_SOURCE = Path(__file__).parent / "hello-server.c"


@hookimpl
def detect(context: DetectContext) -> DetectResult:
    if not (context.app_dir / "hello.txt").is_file():
        return DetectResult.fail("no hello.txt in the app directory")
    return DetectResult.passed(provides=["hello"], requires=["hello"])


@hookimpl
def build(context: BuildContext) -> BuildResult:
    layer = context.layers.cached("hello", expected={"version": HELLO_VERSION}, launch=True)
    if not layer.reused:
        script = layer.path / "bin" / "hello"
        script.parent.mkdir()
        script.write_text(HELLO_SCRIPT)
        script.chmod(0o755)
        server = script.parent / "hello-server"
        subprocess.run(["gcc", "-O2", "-o", str(server), str(SERVER_SOURCE)], check=True)
    layer.write_env(LayerEnv().default("HELLO_GREETING", "Hello", Scope.LAUNCH))
    layer.write_sbom(Sbom.cyclonedx([Component("hello", HELLO_VERSION, type="application")]))
    return BuildResult(
        processes=[
            Process("web", ["hello"], default=True),
            Process("http", ["hello-server"], args=["hello.txt"]),
        ]
    )
