"""A small buildpack exercising the whole author's API; app files steer its behaviour."""

from __future__ import annotations

from cnbsdk.buildpack import (
    SPDX_JSON,
    BuildContext,
    BuildpackError,
    BuildResult,
    Component,
    DetectContext,
    DetectResult,
    Label,
    LayerEnv,
    Process,
    Require,
    Sbom,
    Scope,
    Slice,
    hookimpl,
    plan_option,
)


@hookimpl
def detect(context: DetectContext) -> DetectResult | None:
    app = context.app_dir
    if (app / "error.txt").exists():
        raise BuildpackError((app / "error.txt").read_text().strip())
    if (app / "boom.txt").exists():
        raise ValueError("boom went the detect hook")
    if (app / "none.txt").exists():
        return None
    if not (app / "hello.txt").exists():
        return DetectResult.fail("no hello.txt in the app directory")
    version = (app / "hello.txt").read_text().strip()
    return DetectResult.passed(
        provides=["hello"],
        requires=[Require("hello", {"version": version, "launch": True})],
        alternatives=[
            {"provides": ["hello"], "requires": ["hello"]},
            plan_option(provides=["hello-lite"], requires=["hello-lite"]),
        ],
    )


@hookimpl
def build(context: BuildContext) -> BuildResult | None:
    app = context.app_dir
    if (app / "none.txt").exists():
        return None
    if (app / "typo.txt").exists():
        context.layer("greeting")  # type: ignore[attr-defined]  # the typo an author makes
    if (app / "read-site.txt").exists():
        (app / "site.json").read_text()
    if (app / "tomli-w.txt").exists():
        import tomli_w

        tomli_w.dumps({"value": object()})  # raises inside tomli_w
    version = context.config.get("BP_GREETING_VERSION")
    context.logger.selected_dependency("Greeting", version, "BP_GREETING_VERSION")
    layer = context.layers.cached(
        "greeting", expected={"version": version}, build=True, launch=True
    )
    if not layer.reused:
        (layer.path / "bin").mkdir()
        script = layer.path / "bin" / "hello"
        script.write_text(f"#!/bin/sh\necho 'hello {version}'\n")
        script.chmod(0o755)
        env = LayerEnv().override("GREETING_VERSION", version)
        env.prepend("GREETING_PATH", str(layer.path / "bin"), delim=":", scope=Scope.BUILD)
        layer.write_env(env)
        layer.write_sbom(
            Sbom.cyclonedx([Component("greeting", version, purl="pkg:generic/greeting")])
        )
    if (app / "spdx.txt").exists():
        layer.write_sbom(SPDX_JSON, b"{}")

    processes = [
        Process(
            "web", ["hello"], args=["--name", "world"], default=True, working_dir="/workspace/sub"
        ),
        Process("worker", ["hello", "--worker"]),
    ]
    if (app / "two-defaults.txt").exists():
        processes.append(Process("other", ["hello"], default=True))
    unmet = [e.name for e in context.buildpack_plan.entries if e.name == "unmet-me"]
    if (app / "unknown-unmet.txt").exists():
        unmet.append("not-in-the-plan")
    store: dict[str, object] = {"builds": int(context.store.get("builds", 0)) + 1}
    if (app / "bad-store.txt").exists():
        store["broken"] = None
    context.logger.debug(f"store: {store}")
    return BuildResult(
        processes=processes,
        labels=[Label("org.example.greeting", version)],
        slices=[Slice(["public/**"])],
        unmet=unmet,
        store=store,
        launch_sbom=[Sbom.cyclonedx([Component("app", "0.0.0")])],
    )
