"""Whole images of Python apps built, started and asked over HTTP with the cnb_build
harness: the real build image and its CPython, the catalog's pip, uv and Poetry, real
installs. The apps' packages come from the host's package index (whatever is current:
no test needs a particular version); uv.lock and poetry.lock are made at test time by the
catalog's own uv and Poetry."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUILDPACK = "cnbsdk/python"
APPS = Path(__file__).parent / "apps"

FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return "Hello from Flask\\n"
"""

FASTAPI_APP = """\
import sys

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index() -> dict[str, str]:
    return {"hello": "FastAPI", "python": sys.version.split()[0]}
"""


def _catalog_dependencies() -> Any:
    from cnbsdk_python import __file__ as package

    from cnbsdk.deps import Dependencies
    from cnbsdk.deps.host_registries import host_pypi_index
    from cnbsdk.spec.buildpack_toml import BuildpackDescriptor

    descriptor_path = Path(package).with_name("buildpack.toml")
    return Dependencies(
        descriptor=BuildpackDescriptor.read(descriptor_path),
        buildpack_dir=descriptor_path.parent,
        environ={"BP_PYPI_INDEX": host_pypi_index() or ""},
    )


@pytest.fixture(scope="module")
def lock_tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The catalog's uv binary and a Poetry venv, to make lockfiles as a user would."""
    from cnbsdk_python.tools import poetry_set

    root = tmp_path_factory.mktemp("lock-tools")
    dependencies = _catalog_dependencies()
    uv_wheel = dependencies.fetch(dependencies.resolve("uv"), root)
    with zipfile.ZipFile(uv_wheel) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".data/scripts/uv"))
        uv = Path(wheel.extract(name, root / "uv"))
    uv.chmod(0o755)
    wheels = [dependencies.resolve("poetry"), *poetry_set(dependencies)]
    files = [str(dependencies.fetch(d, root / "wheels")) for d in wheels]
    subprocess.run([sys.executable, "-m", "venv", root / "poetry"], check=True)
    subprocess.run(
        [root / "poetry/bin/pip", "install", "-q", "--no-index", "--no-deps", *files], check=True
    )
    yield {"uv": uv, "poetry": root / "poetry/bin/poetry"}


def _lock(tool: Path, app: Path, *args: str) -> None:
    subprocess.run([str(tool), "lock", *args], cwd=app, check=True, capture_output=True, text=True)


def test_flask_with_requirements_and_a_procfile(cnb_build) -> None:  # type: ignore[no-untyped-def]
    app = {
        "app.py": FLASK_APP,
        "requirements.txt": "flask\ngunicorn\n",
        "Procfile": "web: gunicorn app:app\n",
    }
    result = cnb_build(app, [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "Selected CPython version (using default version): 3." in building
    assert "-m pip download --progress-bar off" in building
    assert "-m pip install --no-compile --no-warn-script-location --no-index" in building
    assert "Processes from Procfile" in building

    started = result.start()
    assert started.get("/").body == "Hello from Flask\n"

    # The interpreter runs on the run image (no Python of its own): every extension module
    # of the standard library loads; the launch env is set; pip is not in the image.
    modules = sorted(
        p.name.split(".")[0]
        for p in Path("/usr/lib/python3.11/lib-dynload").glob("*.so")
        if not p.name.startswith(("_test", "_xxtest", "xxlimited", "_ctypes_test"))
    )
    check = f"python -c 'import {', '.join(modules)}; print(\"ok\")'"
    assert result.run(check).output.strip().endswith("ok")
    env = 'python -c \'import os; print(os.environ["PYTHONUNBUFFERED"], os.environ["PORT"])\''
    assert result.run(env).output.split() == ["1", "8080"]
    assert (
        result.run("python -m pip --version 2>&1 || echo no pip").output.strip().endswith("no pip")
    )
    # WEB_CONCURRENCY from the CPUs and the memory limit (exec.d, in shell), unless set
    workers = "python -c 'import os; print(os.environ[\"WEB_CONCURRENCY\"])'"
    assert result.run(workers, env={"BPL_CPU_COUNT": "2"}).output.strip() == "5"
    limited = {"BPL_CPU_COUNT": "4", "BPL_MEMORY_LIMIT": "512M"}
    assert result.run(workers, env=limited).output.strip() == "2"
    assert result.run(workers, env={"WEB_CONCURRENCY": "3"}).output.strip() == "3"
    # bytecode: hash-based .pyc (PEP 552 flags 0b01: no timestamp) for the venv and the app
    flags = (
        "python -c 'import glob; "
        'print(sorted({open(f, "rb").read()[4] for f in glob.glob('
        '"/layers/cnbsdk_python/venv/lib/python3.11/site-packages/flask/__pycache__/*.pyc")}), '
        'open(glob.glob("/workspace/__pycache__/app.*.pyc")[0], "rb").read()[4])\''
    )
    assert result.run(flags).output.split() == ["[1]", "3"]

    # the launch SBOM: CPython (its Debian package) and every installed distribution
    components = {c["name"]: c for c in result.sbom(BUILDPACK)["components"]}
    assert components["flask"]["purl"].startswith("pkg:pypi/flask@")
    assert components["gunicorn"]["purl"].startswith("pkg:pypi/gunicorn@")
    assert components["CPython"]["purl"].startswith("pkg:deb/debian/python3.11@3.11")
    assert components["werkzeug"]["licenses"]

    # no change: every layer reused, no installer run, the same image
    same = result.rebuild()
    same.assert_all_layers_reused()
    assert "pip install" not in same.phases["BUILDING"]
    assert same.image.digest == result.image.digest

    # a source change: the venv is reused
    source = same.rebuild(files={"app.py": FLASK_APP.replace("Hello", "Hi")})
    source.assert_layer_reused("cnbsdk/python:venv", because="unchanged")
    assert "pip install" not in source.phases["BUILDING"]

    # a bad requirement: one line naming the cause; the cache is left as it was
    bad = source.rebuild(
        files={"requirements.txt": "flask\ngunicorn\nnot a == requirement\n"}, expect_failure=True
    )
    assert bad.exit_code != 0 and bad.failure is not None
    assert "Invalid requirement" in str(bad.failure) and "\n" not in str(bad.failure.message)

    # one requirement added: only the venv is rebuilt, from pip's download cache
    added = source.rebuild(files={"requirements.txt": "flask\ngunicorn\nsix\n"})
    added.assert_layer_rebuilt("cnbsdk/python:venv", because="dependencies changed")
    added.assert_layer_reused("cnbsdk/python:cpython")
    assert "Reusing layer 'pip-cache'" in added.phases["BUILDING"]
    building = added.phases["BUILDING"]
    assert "File was already downloaded" in building and "Saved" in building  # only the new
    assert building.count("Saved ") == 1 and "--no-index --find-links" in building
    assert added.start().get("/").body == "Hi from Flask\n"


def test_the_same_app_built_twice_gives_the_same_image(cnb_build) -> None:  # type: ignore[no-untyped-def]
    app = {"main.py": "print('hi')\n", "requirements.txt": "itsdangerous\n"}
    first = cnb_build(app, [BUILDPACK])
    second = cnb_build(app, [BUILDPACK])
    assert "Reusing" not in second.phases["BUILDING"]  # a cold build of its own
    assert first.image.digest == second.image.digest
    assert first.run("python main.py").output.strip() == "hi"


def test_fastapi_with_uv_lock_is_served_by_uvicorn(cnb_build, lock_tools, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = tmp_path / "fastapi-app"
    app.mkdir()
    pyproject = (
        '[project]\nname = "fastapi-app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["fastapi", "uvicorn"]\n'
    )
    (app / "pyproject.toml").write_text(pyproject)
    (app / "main.py").write_text(FASTAPI_APP)
    _lock(lock_tools["uv"], app, "--python", "/usr/bin/python3.11")

    result = cnb_build(app, [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "uv sync --locked --no-dev" in building
    assert "Processes from ASGI app (main:app) with uvicorn" in building
    body = json.loads(result.start().get("/").body)
    assert body["hello"] == "FastAPI" and body["python"].startswith("3.")
    components = {c["name"] for c in result.sbom(BUILDPACK)["components"]}
    assert {"fastapi", "uvicorn", "pydantic"} <= components

    # pyproject.toml changed, uv.lock not: the lock is out of date, and uv says so
    stale = result.rebuild(
        files={"pyproject.toml": pyproject.replace('"uvicorn"]', '"uvicorn", "itsdangerous"]')},
        expect_failure=True,
    )
    assert stale.failure is not None and "uv sync --locked --no-dev' failed" in str(stale.failure)
    assert "needs to be updated" in str(stale.failure)


def test_poetry_app(cnb_build, lock_tools, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = tmp_path / "poetry-app"
    app.mkdir()
    (app / "pyproject.toml").write_text(
        '[project]\nname = "poetry-app"\nversion = "0.1.0"\nrequires-python = ">=3.11,<4"\n'
        'dependencies = ["flask", "gunicorn"]\n\n[tool.poetry]\npackage-mode = false\n'
    )
    (app / "app.py").write_text(FLASK_APP.replace("Flask\\n", "Flask under Poetry\\n"))
    _lock(lock_tools["poetry"], app)

    result = cnb_build(app, [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "poetry install --only main --no-root" in building
    assert "Processes from Flask (app:app) with gunicorn" in building
    assert result.start().get("/").body == "Hello from Flask under Poetry\n"
    assert result.run("command -v poetry || echo no poetry").output.strip() == "no poetry"


DJANGO_SETTINGS = """\
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = ["django.contrib.staticfiles"]
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "assets"]
"""

DJANGO_URLS = """\
from django.http import HttpResponse
from django.urls import path

urlpatterns = [path("", lambda request: HttpResponse("Hello from Django\\n"))]
"""

DJANGO_WSGI = """\
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
application = get_wsgi_application()
"""

MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""


def test_django_with_a_python_version_pin(cnb_build) -> None:  # type: ignore[no-untyped-def]
    app = {
        "manage.py": MANAGE,
        "mysite/__init__.py": "",
        "mysite/settings.py": DJANGO_SETTINGS,
        "mysite/urls.py": DJANGO_URLS,
        "mysite/wsgi.py": DJANGO_WSGI,
        "assets/site.css": "body { color: teal; }\n",
        "requirements.txt": "django\ngunicorn\n",
        ".python-version": "3.11\n",
    }
    result = cnb_build(app, [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "Selected CPython version (using .python-version): 3.11." in building
    assert "Collecting Django's static files" in building
    assert "Processes from Django (mysite.wsgi) with gunicorn" in building
    assert result.start().get("/").body == "Hello from Django\n"
    css = "cat /workspace/staticfiles/site.css"
    assert result.run(css).output == "body { color: teal; }\n"


def test_bad_python_versions_fail_in_one_line(cnb_build) -> None:  # type: ignore[no-untyped-def]
    pyproject = '[project]\nname = "x"\nversion = "1"\nrequires-python = ">=3.99"\n'
    result = cnb_build({"pyproject.toml": pyproject}, [BUILDPACK], expect_failure=True)
    message = str(result.failure)
    assert "pyproject.toml \"requires-python\" asks for CPython '>=3.99'" in message
    assert "(available: 3.11." in message

    pinned = cnb_build(
        {"requirements.txt": "", "runtime.txt": "python-2.7.18\n"}, [BUILDPACK], expect_failure=True
    )
    assert "runtime.txt asks for CPython '2.7.18'" in str(pinned.failure)

    missing = "cnbsdk-test-no-such-package-anywhere"
    failed = cnb_build({"requirements.txt": f"{missing}\n"}, [BUILDPACK], expect_failure=True)
    assert f"No matching distribution found for {missing}" in str(failed.failure)


def test_a_c_extension_is_compiled_from_source_against_the_build_image_headers(
    cnb_build,  # type: ignore[no-untyped-def]
) -> None:
    result = cnb_build(APPS / "extension-app", [BUILDPACK])
    building = result.phases["BUILDING"]
    assert "Building wheel for greet (pyproject.toml): finished with status 'done'" in building
    assert result.start().get("/").body == "hello from C\n"
    # the C source changes: the venv is made again (its files are part of the key)
    source = (APPS / "extension-app/greet/greet.c").read_text().replace("hello from", "hi from")
    again = result.rebuild(files={"greet/greet.c": source})
    again.assert_layer_rebuilt("cnbsdk/python:venv", because="dependencies changed")
    assert again.start().get("/").body == "hi from C\n"
    # no headers in the image: they are the build image's
    assert again.run("ls /usr/include/python3.11 2>&1 || echo none").output.strip().endswith("none")


def test_the_offline_buildpackage_builds_from_a_pip_binding_with_the_network_cut(
    cnb_build,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    # a local mirror: the app's wheels in a `pip` binding (downloaded here, on the host)
    binding = tmp_path / "wheels"
    binding.mkdir()
    (binding / "type").write_text("pip")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--only-binary",
            ":all:",
            "--python-version",
            "3.11",
            "-d",
            str(binding),
            "flask",
            "gunicorn",
        ],
        check=True,
        capture_output=True,
    )
    packaged = tmp_path / "python.cnb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cnbsdk.cli.main",
            "package",
            "buildpack",
            BUILDPACK,
            "--offline",
            "--format",
            "cnb",
            "--output",
            str(packaged),
        ],
        check=True,
        capture_output=True,
    )
    app = {
        "app.py": FLASK_APP,
        "requirements.txt": "flask\ngunicorn\n",
        "Procfile": "web: gunicorn app:app\n",
    }
    result = cnb_build(app, [packaged], network="none", bindings=(binding,))
    building = result.phases["BUILDING"]
    assert "Using the bundled pip-" in building
    assert "Package index from the pip binding (its packages only: no index)" in building
    assert result.start().get("/").body == "Hello from Flask\n"


def test_a_private_index_from_a_pip_binding_keeps_its_token_out_of_log_and_image(
    cnb_build,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    """An index (the test's own, on loopback) known only through a pip binding whose URL
    carries a token: the install works from it, and the token is in no log and no layer."""
    import gzip

    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.pypi_index import PackageIndex

    index = PackageIndex(tmp_path / "index")
    try:
        wheels = tmp_path / "wheels"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                str(wheels),
                "six",
            ],
            check=True,
            capture_output=True,
        )
        for wheel in wheels.iterdir():
            index.add_file("six", wheel)
        token = "pypiPRIVATEtoken7c2d"
        binding = tmp_path / "private-index"
        binding.mkdir()
        (binding / "type").write_text("pip")
        url = index.url.replace("http://", f"http://ci:{token}@")
        (binding / "pip.conf").write_text(f"[global]\nindex-url = {url}\n")
        app = {"requirements.txt": "six\n", "main.py": "import six\nprint(six.__name__)\n"}
        result = cnb_build(app, [BUILDPACK], bindings=(binding,))
        assert "Package index from the pip binding" in result.phases["BUILDING"]
        assert any(path.startswith("/simple/six/") for path in index.requests)
        assert result.run("python main.py").output.strip() == "six"
        assert token not in result.log
        blobs = [p for p in tmp_path.rglob("blobs/sha256/*") if p.is_file()]
        assert blobs, "the image's blobs are in the test's directory"
        for blob in blobs:
            data = blob.read_bytes()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            assert token.encode() not in data, blob
    finally:
        index.stop()
