"""Python benchmark: a Flask app (requirements.txt, gunicorn) built by cnbsdk with the
Python buildpack against ``buildah bud`` of a well-ordered Dockerfile, measured in the
same run.

Both start from the same run image (the default stack's, copied to an OCI layout for
buildah's ``FROM oci:``), the same CPython (the Debian interpreter, made relocatable by the
buildpack's own code into buildah's context: the one the build image carries), the same
pip wheel (the catalog's) and the same package index (the host's). The Dockerfile copies
``requirements.txt`` first, makes the venv and runs ``pip install --no-cache-dir``, then
copies the sources: the order that lets buildah's layer cache work.

Rows: cold (nothing cached; the default stack made beforehand, untimed), no-change
rebuild, source-only change, dependency change (``six`` added), the images' sizes
(uncompressed layers), and the time from ``cnbsdk run`` of each image to its first answer
(best of 3; cnbsdk's image starts ``WEB_CONCURRENCY`` = 2 x CPUs + 1 gunicorn workers, the
Dockerfile's gunicorn its default 1, so the one-worker time is shown too).
Goal (issue 14): cnbsdk at or below buildah in each, first response under 1 s.

    .venv/bin/python bench/python.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "buildpacks" / "python"))

from cnbsdk_python.cpython import find_stack_python, install_stack_python  # noqa: E402
from peer_tools import run, uncompressed_size  # noqa: E402

from cnbsdk.deps import Dependencies  # noqa: E402
from cnbsdk.deps.host_registries import host_pypi_index  # noqa: E402
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor  # noqa: E402
from cnbsdk.testing.started_app import free_port  # noqa: E402

CNBSDK = [sys.executable, "-m", "cnbsdk.cli.main"]
HOST_CAS = Path("/etc/ssl/certs/ca-certificates.crt")
CATALOG = REPO / "buildpacks" / "python" / "cnbsdk_python" / "buildpack.toml"

APP = {
    "app.py": (
        "from flask import Flask\n\napp = Flask(__name__)\n\n\n"
        '@app.get("/")\ndef index():\n    return "Hello from Flask\\n"\n'
    ),
    "requirements.txt": "flask\ngunicorn\n",
    "Procfile": "web: gunicorn app:app\n",
}

DOCKERFILE = """\
FROM oci:{run_layout}:run
USER root
COPY python/ /opt/python/
COPY pip/ /opt/pip/
COPY ca.pem /etc/bench-ca.pem
ENV PATH=/app/venv/bin:/opt/python/bin:$PATH LD_LIBRARY_PATH=/opt/python/lib/bundled \\
    PYTHONUNBUFFERED=1 PORT=8080 VIRTUAL_ENV=/app/venv
WORKDIR /app
COPY app/requirements.txt ./
RUN /opt/python/bin/python3.11 -m venv --without-pip /app/venv && \\
    PYTHONPATH=/opt/pip PIP_INDEX_URL={index} PIP_CERT=/etc/bench-ca.pem \\
    /app/venv/bin/python -m pip install \\
    --no-cache-dir --disable-pip-version-check -r requirements.txt
COPY app/ ./
USER 1001:1000
CMD ["gunicorn", "app:app"]
"""


def first_response(
    ref: str, env: dict[str, str], *, attempts: int = 3, extra: tuple[str, ...] | list[str] = ()
) -> float:
    """Seconds from ``cnbsdk run REF`` to the first answer of ``GET /`` (best of a few)."""
    best = float("inf")
    for _ in range(attempts):
        port = free_port()
        started = time.monotonic()
        process = subprocess.Popen(
            [*CNBSDK, "run", "-e", f"PORT={port}", *extra, ref],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while time.monotonic() - started < 30:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                        assert r.read() == b"Hello from Flask\n"
                    break
                except OSError:
                    time.sleep(0.01)
            best = min(best, time.monotonic() - started)
        finally:
            process.terminate()
            process.wait(timeout=10)
    return best


def main() -> None:
    index = os.environ.get("BP_PYPI_INDEX") or host_pypi_index()
    if index is None:
        sys.exit("no package index: set BP_PYPI_INDEX or configure pip")
    environ = {**os.environ, "BP_PYPI_INDEX": index}
    stack = find_stack_python()
    if stack is None:
        sys.exit("this host has no Debian python3 to give buildah the same CPython")
    with tempfile.TemporaryDirectory(prefix="cnbsdk-bench-python-") as tmp:
        work = Path(tmp)
        context = work / "context"
        app = context / "app"
        app.mkdir(parents=True)
        for name, text in APP.items():
            (app / name).write_text(text)
        # the same CPython and pip for buildah: the buildpack's relocatable copy, the wheel
        install_stack_python(stack, SimpleNamespace(path=context / "python"), None)  # type: ignore[arg-type]
        dependencies = Dependencies(
            descriptor=BuildpackDescriptor.read(CATALOG),
            buildpack_dir=CATALOG.parent,
            environ={"BP_PYPI_INDEX": index},
        )
        wheel = dependencies.fetch(dependencies.resolve("pip"), work)
        with zipfile.ZipFile(wheel) as zipped:
            zipped.extractall(context / "pip")
        # the host's certificate authorities (its local ones too), as cnbsdk build gives them
        shutil.copyfile(HOST_CAS, context / "ca.pem")
        env = dict(environ)

        # untimed: the default stack exists, the run image is in an OCI layout
        run([*CNBSDK, "build", str(app), "--buildpack", "cnbsdk/python", "--image",
             "bench/python-warmup", "--cache-dir", str(work / "warm")], env=env)  # fmt: skip
        run([*CNBSDK, "copy", "cnbsdk/run:bookworm", f"oci:{work / 'run'}:run"], env=env)
        (context / "Dockerfile").write_text(DOCKERFILE.format(run_layout=work / "run", index=index))
        buildah = [
            "buildah", "--storage-driver", "vfs", "--root", str(work / "buildah"),
            "--runroot", str(work / "buildah-run"),
        ]  # fmt: skip
        bud = [*buildah, "bud", "--isolation", "chroot", "--layers", "-t", "bench-python"]
        build = [
            *CNBSDK, "build", str(app), "--buildpack", "cnbsdk/python", "--image",
            "bench/python", "--cache-dir", str(work / "cache"),
        ]  # fmt: skip

        rows = []
        for label, change in (
            ("cold", None),
            ("no-change rebuild", None),
            ("source-only change", "source"),
            ("dependency change", "dependency"),
        ):
            if change == "source":
                (app / "app.py").write_text(APP["app.py"] + "\n# a change\n")
            elif change == "dependency":
                (app / "requirements.txt").write_text(APP["requirements.txt"] + "six\n")
            cnbsdk_s = run(build, env=env)
            buildah_s = run([*bud, str(context)], env=environ)
            rows.append((label, cnbsdk_s, buildah_s))

        out = work / "out"
        run([*CNBSDK, "copy", "bench/python", f"oci:{out}:cnbsdk"], env=env)
        run([*buildah, "push", "bench-python", f"oci:{out}:buildah"], env=environ)
        sizes = (uncompressed_size(out, "cnbsdk"), uncompressed_size(out, "buildah"))
        starts = (
            first_response("bench/python", env),
            first_response(f"oci:{out}:buildah", env),
        )
        one_worker = first_response("bench/python", env, extra=["-e", "WEB_CONCURRENCY=1"])

    print(f"{'':22}{'cnbsdk':>10}{'buildah':>10}{'ratio':>8}")
    for label, ours, theirs in rows:
        print(f"{label:22}{ours:>9.2f}s{theirs:>9.2f}s{ours / theirs:>8.2f}")
    ours, theirs = sizes
    print(f"{'image size':22}{ours / 1e6:>8.1f}MB{theirs / 1e6:>8.1f}MB{ours / theirs:>8.2f}")
    ours, theirs = starts
    print(f"{'start to 1st response':22}{ours:>9.2f}s{theirs:>9.2f}s{ours / theirs:>8.2f}")
    print(
        f"(cnbsdk's gunicorn starts 2 x CPUs + 1 workers, buildah's 1; with WEB_CONCURRENCY=1:"
        f" {one_worker:.2f}s)"
    )


if __name__ == "__main__":
    if os.environ.get("BENCH_KEEP_TMP"):
        tempfile.tempdir = os.environ["BENCH_KEEP_TMP"]
    shutil.which("buildah") or sys.exit("buildah is not installed")
    main()
