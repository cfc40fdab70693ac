"""Node.js benchmark: the Express app built by cnbsdk (default builder, Node.js buildpack)
against ``buildah bud`` of a well-ordered Dockerfile, measured in the same run.

Both start from the same run image (the default stack's, copied to an OCI layout for
buildah's ``FROM oci:``), the same Node.js and npm tarballs (the catalog's defaults,
downloaded once: buildah ADDs them from its context, cnbsdk fetches them through a
``BP_DEPENDENCY_MIRROR`` served on loopback), the same npm registry and the same host
certificate authorities. The Dockerfile copies ``package*.json`` first, runs ``npm ci`` and
cleans npm's cache, then copies the sources: the order that lets buildah's layer cache work.

Rows: cold (nothing cached; cnbsdk's default builder made beforehand, untimed), no-change
rebuild, source-only change, dependency change (``ms`` added), and the images' sizes
(uncompressed layers). Goal (issue 13): cnbsdk at or below buildah in each.

    .venv/bin/python bench/node.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from peer_tools import run, serve, uncompressed_size  # noqa: E402

from cnbsdk.deps.download import download  # noqa: E402
from cnbsdk.deps.host_registries import host_npm_registry  # noqa: E402
from cnbsdk.deps.registries import npm_registry, resolve_registry_uri  # noqa: E402
from cnbsdk.deps.resolve import resolve  # noqa: E402
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor  # noqa: E402

CNBSDK = [sys.executable, "-m", "cnbsdk.cli.main"]
APP = REPO / "examples" / "apps" / "express-app"
CATALOG = REPO / "buildpacks" / "node" / "cnbsdk_node" / "buildpack.toml"
HOST_CA = Path("/usr/local/share/ca-certificates")

DOCKERFILE = """\
FROM oci:{run_layout}:run
USER root
ADD node.tgz /opt/node/
ADD npm.tgz /opt/npm/
COPY extra-ca.pem /etc/extra-ca.pem
ENV PATH=/opt/node/package/bin:$PATH NODE_ENV=production NODE_EXTRA_CA_CERTS=/etc/extra-ca.pem
WORKDIR /app
COPY app/package.json app/package-lock.json ./
RUN npm_config_registry={registry} node /opt/npm/package/bin/npm-cli.js ci --omit=dev \\
    --no-audit --no-fund && node /opt/npm/package/bin/npm-cli.js cache clean --force
COPY app/ ./
USER 1001:1000
CMD ["node", "server.js"]
"""


def fetch_catalog_defaults(mirror: Path, context: Path, environ: dict[str, str]) -> None:
    """The default Node.js and npm, once: into the mirror (at their registry paths, for
    cnbsdk) and into buildah's context (node.tgz, npm.tgz)."""
    metadata = BuildpackDescriptor.read(CATALOG).metadata
    for dependency_id, name in (("node", "node.tgz"), ("npm", "npm.tgz")):
        dependency = resolve(metadata, dependency_id)
        url = resolve_registry_uri(dependency.uri, environ)
        path = mirror / dependency.uri.removeprefix("npm:/")
        path.parent.mkdir(parents=True, exist_ok=True)
        download(url, dependency.checksum, path)
        shutil.copyfile(path, context / name)


def main() -> None:
    registry = npm_registry(os.environ) or host_npm_registry()
    if registry is None:
        sys.exit("no npm registry: set BP_NPM_REGISTRY or configure npm")
    environ = {**os.environ, "BP_NPM_REGISTRY": registry}
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-node-") as tmp:
        work = Path(tmp)
        app = work / "context" / "app"
        shutil.copytree(APP, app)
        context = work / "context"
        mirror = work / "mirror"
        fetch_catalog_defaults(mirror, context, environ)
        certificates = sorted(HOST_CA.rglob("*.crt")) if HOST_CA.is_dir() else []
        (context / "extra-ca.pem").write_bytes(b"".join(p.read_bytes() for p in certificates))
        env = dict(environ)  # the user's CNBSDK_HOME: its default builder is reused
        mirror_url = serve(mirror)

        # untimed: the default builder and stack exist, the run image is in an OCI layout
        run(
            [
                *CNBSDK,
                "build",
                str(APP),
                "--image",
                "bench/node-warmup",
                "--cache-dir",
                str(work / "warm"),
            ],
            env=env,
        )
        run([*CNBSDK, "copy", "cnbsdk/run:bookworm", f"oci:{work / 'run'}:run"], env=env)
        (context / "Dockerfile").write_text(
            DOCKERFILE.format(run_layout=work / "run", registry=registry)
        )
        buildah = [
            "buildah", "--storage-driver", "vfs", "--root", str(work / "buildah"),
            "--runroot", str(work / "buildah-run"),
        ]  # fmt: skip
        bud = [
            *buildah,
            "bud",
            "--isolation",
            "chroot",
            "--layers",
            "-t",
            "bench-node",
            str(context),
        ]
        build = [
            *CNBSDK, "build", str(app), "--image", "bench/node", "--cache-dir", str(work / "cache"),
            "--env", f"BP_DEPENDENCY_MIRROR={mirror_url}",
        ]  # fmt: skip

        rows = []
        for label, change in (
            ("cold", None),
            ("no-change rebuild", None),
            ("source-only change", "source"),
            ("dependency change", "dependency"),
        ):
            if change == "source":
                server = app / "server.js"
                server.write_text(server.read_text() + "\n// a change\n")
            elif change == "dependency":
                package = json.loads((app / "package.json").read_text())
                package["dependencies"]["ms"] = "^2.1.3"
                (app / "package.json").write_text(json.dumps(package, indent=2))
                run(
                    ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund",
                     "--omit-lockfile-registry-resolved"],
                    cwd=app, env=environ,
                )  # fmt: skip
            cnbsdk_s = run(build, env=env)
            buildah_s = run(bud, env=environ)
            rows.append((label, cnbsdk_s, buildah_s))

        run([*CNBSDK, "copy", "bench/node", f"oci:{work / 'out'}:cnbsdk"], env=env)
        run([*buildah, "push", "bench-node", f"oci:{work / 'out'}:buildah"], env=environ)
        sizes = (
            uncompressed_size(work / "out", "cnbsdk"),
            uncompressed_size(work / "out", "buildah"),
        )

    print(f"{'':22}{'cnbsdk':>10}{'buildah':>10}{'ratio':>8}")
    for label, ours, theirs in rows:
        print(f"{label:22}{ours:>9.2f}s{theirs:>9.2f}s{ours / theirs:>8.2f}")
    ours, theirs = sizes
    print(f"{'image size':22}{ours / 1e6:>8.1f}MB{theirs / 1e6:>8.1f}MB{ours / theirs:>8.2f}")


if __name__ == "__main__":
    main()
