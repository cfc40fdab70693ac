"""Which model reads which CNB file: the kind names ``cnbsdk validate`` accepts."""

from __future__ import annotations

import os
from pathlib import PurePath

from cnbsdk.errors import SpecError
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.builder_toml import BuilderToml
from cnbsdk.spec.buildpack_plan import BuildpackPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.exec_d import ExecDOutput
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.package_toml import PackageToml
from cnbsdk.spec.platform_files import GroupToml, OrderToml, PlatformPlan, RunToml, StackToml
from cnbsdk.spec.project_toml import ProjectDescriptor
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.toml_io import TomlFileModel

KINDS: dict[str, type[TomlFileModel]] = {
    # Written by buildpack authors or by buildpacks.
    "buildpack": BuildpackDescriptor,
    "launch": LaunchToml,
    "build": BuildToml,
    "store": StoreToml,
    "layer": LayerContentMetadata,
    "build-plan": BuildPlan,
    "buildpack-plan": BuildpackPlan,
    "exec-d": ExecDOutput,
    # Written by app developers and platform operators, or by the lifecycle.
    "project": ProjectDescriptor,
    "package": PackageToml,
    "builder": BuilderToml,
    "order": OrderToml,
    "group": GroupToml,
    "platform-plan": PlatformPlan,
    "run": RunToml,
    "stack": StackToml,
}

_BY_FILE_NAME = {
    "buildpack.toml": "buildpack",
    "launch.toml": "launch",
    "build.toml": "build",
    "store.toml": "store",
    "project.toml": "project",
    "package.toml": "package",
    "builder.toml": "builder",
    "order.toml": "order",
    "group.toml": "group",
    "run.toml": "run",
    "stack.toml": "stack",
}


def kind_for_path(path: str | os.PathLike[str]) -> str:
    """The kind of a file, from its name; SpecError when the name does not tell.

    ``plan.toml`` is both a buildpack's build plan and the detector's plan: it needs an
    explicit kind. Any other ``*.toml`` under a directory named ``layers`` is a layer's
    content metadata (``<layers>/<buildpack>/<layer>.toml``).
    """
    name = PurePath(path).name
    if name in _BY_FILE_NAME:
        return _BY_FILE_NAME[name]
    if name == "plan.toml":
        raise SpecError(
            "may be a buildpack's build plan or the detector's plan",
            file=str(path),
            hint="pass --kind build-plan, --kind buildpack-plan or --kind platform-plan",
        )
    if name.endswith(".toml") and "layers" in PurePath(path).parent.parts:
        return "layer"
    raise SpecError(
        "cannot tell the kind of file from its name",
        file=str(path),
        hint=f"pass --kind, one of: {', '.join(sorted(KINDS))}",
    )
