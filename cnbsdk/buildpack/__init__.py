"""The buildpack author's API: hooks, contexts, results, layers, env, exec.d, SBOM, logging.

A buildpack is a package with ``buildpack.toml`` beside its ``__init__.py`` and two
functions marked ``@hookimpl`` (see ``cnbsdk.buildpack.hookspecs`` for the manual)::

    from cnbsdk.buildpack import BuildContext, BuildResult, DetectContext, DetectResult
    from cnbsdk.buildpack import Process, hookimpl

    @hookimpl
    def detect(context: DetectContext) -> DetectResult:
        if not (context.app_dir / "hello.txt").exists():
            return DetectResult.fail("no hello.txt in the app directory")
        return DetectResult.passed(provides=["hello"], requires=["hello"])

    @hookimpl
    def build(context: BuildContext) -> BuildResult:
        layer = context.layers.cached("greeting", expected={"version": "1"}, launch=True)
        if not layer.reused:
            ...
        return BuildResult(processes=[Process("web", ["hello"], default=True)])
"""

from cnbsdk.buildpack.config import ConfigurationResolver, ResolvedValue
from cnbsdk.buildpack.context import (
    Binding,
    BuildContext,
    DetectContext,
    RunTarget,
    make_build_context,
    make_detect_context,
)
from cnbsdk.buildpack.env import LayerEnv, Scope
from cnbsdk.buildpack.exec_d import install_exec_d_program, write_exec_d_output
from cnbsdk.buildpack.hookspecs import hookimpl, hookspec
from cnbsdk.buildpack.layers import Action, LayerRef, Layers, ReplaceMetadata
from cnbsdk.buildpack.log import Logger
from cnbsdk.buildpack.results import (
    BuildResult,
    DetectResult,
    Label,
    Process,
    Slice,
    plan_option,
)
from cnbsdk.buildpack.sbom import CYCLONEDX_JSON, SPDX_JSON, SYFT_JSON, Component, Sbom
from cnbsdk.errors import BuildpackError
from cnbsdk.spec.build_plan import Provide, Require

__all__ = [
    "CYCLONEDX_JSON",
    "SPDX_JSON",
    "SYFT_JSON",
    "Action",
    "Binding",
    "BuildContext",
    "BuildResult",
    "BuildpackError",
    "Component",
    "ConfigurationResolver",
    "DetectContext",
    "DetectResult",
    "Label",
    "LayerEnv",
    "LayerRef",
    "Layers",
    "Logger",
    "Process",
    "Provide",
    "ReplaceMetadata",
    "Require",
    "ResolvedValue",
    "RunTarget",
    "Sbom",
    "Scope",
    "Slice",
    "hookimpl",
    "hookspec",
    "install_exec_d_program",
    "make_build_context",
    "make_detect_context",
    "plan_option",
    "write_exec_d_output",
]
