"""Unit tests of the Python buildpack's parts, and detect as the lifecycle runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cnbsdk_python.cpython import find_stack_python, needed_libraries
from cnbsdk_python.index import url_secrets
from cnbsdk_python.launch import CONCURRENCY_BODY
from cnbsdk_python.processes import processes
from cnbsdk_python.project import PIP, PIP_PROJECT, POETRY, UV, read_project
from cnbsdk_python.sbom import installed_distributions, pypi_purl
from cnbsdk_python.versions import pep440_constraint, version_requests

from cnbsdk.buildpack import BuildpackError
from cnbsdk.buildpack.launch_shell import shell_program
from cnbsdk.buildpack.procfile import read_procfile
from cnbsdk.errors import CnbError

BUILDPACK = "cnbsdk_python"


@pytest.mark.parametrize(
    ("specifier", "constraint"),
    [
        (">=3.10,<3.13", ">=3.10, <3.13"),
        ("~=3.11", ">=3.11, 3.*"),
        ("~=3.11.2", ">=3.11.2, 3.11.*"),
        ("==3.11.*", "3.11.*"),
        (">=3.9, !=3.10.1", ">=3.9, !=3.10.1"),
        ("^3.11", "^3.11"),
        ("*", ""),
    ],
)
def test_requires_python_becomes_a_catalog_constraint(specifier: str, constraint: str) -> None:
    assert pep440_constraint(specifier) == constraint


def test_a_bad_requires_python_is_one_line() -> None:
    with pytest.raises(BuildpackError, match=r"'python3' is not a version"):
        pep440_constraint(">=3.10, python3")


def test_version_sources_in_priority_order(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nrequires-python = ">=3.10"\n')
    (tmp_path / ".python-version").write_text("# pinned\n3.11\n")
    (tmp_path / "runtime.txt").write_text("python-3.11.2\n")
    requests = version_requests(read_project(tmp_path), {"BP_CPYTHON_VERSION": "3.11.2"})
    assert [(r.source, r.constraint) for r in requests if r] == [
        ("BP_CPYTHON_VERSION", "3.11.2"),
        (".python-version", "3.11"),
        ("runtime.txt", "3.11.2"),
        ('pyproject.toml "requires-python"', ">=3.10"),
    ]
    (tmp_path / "runtime.txt").write_text("ruby-3.3\n")
    with pytest.raises(BuildpackError, match=r"runtime\.txt: expected 'python-X\.Y\.Z'"):
        version_requests(read_project(tmp_path), {})


def test_poetry_1_python_dependency_is_the_requirement(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.poetry.dependencies]\npython = "^3.11"\n')
    assert read_project(tmp_path).requires_python == "^3.11"


@pytest.mark.parametrize(
    ("files", "installer"),
    [
        (["requirements.txt"], PIP),
        (["pyproject.toml"], PIP_PROJECT),
        (["setup.py"], PIP_PROJECT),
        (["pyproject.toml", "uv.lock", "requirements.txt"], UV),
        (["pyproject.toml", "poetry.lock"], POETRY),
        ([".python-version"], "none"),
    ],
)
def test_the_installer_follows_the_app_files(
    tmp_path: Path, files: list[str], installer: str
) -> None:
    for name in files:
        (tmp_path / name).write_text("[project]\n" if name == "pyproject.toml" else "")
    project = read_project(tmp_path)
    assert project.installer == installer
    if "requirements.txt" in files and installer == UV:
        assert project.notes == ("requirements.txt is not used: uv.lock decides what is installed",)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["Pipfile"], "Pipenv apps are not supported: export the lock"),
        (["pyproject.toml", "uv.lock", "poetry.lock"], "both uv.lock and poetry.lock"),
        (["uv.lock"], "uv.lock needs the pyproject.toml it was made from"),
    ],
)
def test_unsupported_layouts_are_one_line(tmp_path: Path, files: list[str], message: str) -> None:
    for name in files:
        (tmp_path / name).write_text("[project]\n" if name == "pyproject.toml" else "")
    with pytest.raises(BuildpackError, match=message) as caught:
        read_project(tmp_path)
    assert "\n" not in str(caught.value)


def test_invalid_pyproject_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\n")
    with pytest.raises(CnbError, match=r"pyproject\.toml: invalid TOML"):
        read_project(tmp_path)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_web_process_from_what_the_app_is(tmp_path: Path) -> None:
    flask = _write(
        tmp_path / "flask", {"app.py": "from flask import Flask\napp = Flask(__name__)\n"}
    )
    found, source = processes(flask, {"flask", "gunicorn"}, "python")
    assert found[0].command == ("sh", "-c", "exec gunicorn app:app")
    assert source == "Flask (app:app) with gunicorn"
    # without gunicorn installed: python app.py
    assert processes(flask, {"flask"}, "python")[0][0].command == ("python", "app.py")

    django = _write(
        tmp_path / "django",
        {"manage.py": "", "site1/wsgi.py": "application = get_wsgi_application()\n"},
    )
    found, _ = processes(django, {"django", "gunicorn"}, "python")
    assert found[0].command == ("sh", "-c", "exec gunicorn site1.wsgi:application")

    asgi = _write(
        tmp_path / "asgi", {"api/main.py": "import fastapi\nserver = fastapi.FastAPI()\n"}
    )
    found, source = processes(asgi, {"fastapi", "uvicorn"}, "python")
    assert found[0].command[2].startswith("exec uvicorn api.main:server --host 0.0.0.0")
    assert source == "ASGI app (api.main:server) with uvicorn"

    assert processes(_write(tmp_path / "none", {"lib.py": ""}), set(), "python") == ([], "")


def test_procfile_wins_and_a_bad_line_is_one_line(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": "", "Procfile": "# web\nworker: celery -A app worker\n"})
    found, source = processes(tmp_path, {"gunicorn"}, "python")
    assert source == "Procfile" and [(p.type, p.default) for p in found] == [("worker", True)]
    (tmp_path / "Procfile").write_text("web gunicorn\n")
    with pytest.raises(BuildpackError, match="line 1: expected 'type: command'"):
        read_procfile(tmp_path / "Procfile")


def test_installed_distributions_become_pypi_components(tmp_path: Path) -> None:
    for name, headers in {
        "Flask_SQLAlchemy-3.1.1": (
            "Name: Flask_SQLAlchemy\nVersion: 3.1.1\nLicense-Expression: BSD-3-Clause\n"
        ),
        "six-1.17.0": "Name: six\nVersion: 1.17.0\nLicense: MIT\n",
        "old-1.0": (
            "Name: old\nVersion: 1.0\n"
            "Classifier: License :: OSI Approved :: Apache Software License\n"
        ),
    }.items():
        _write(tmp_path, {f"{name}.dist-info/METADATA": f"Metadata-Version: 2.1\n{headers}\n"})
    found = {c.name: c for c in installed_distributions(tmp_path)}
    assert found["flask-sqlalchemy"].purl == "pkg:pypi/flask-sqlalchemy@3.1.1"
    assert found["flask-sqlalchemy"].licenses == ("BSD-3-Clause",)
    assert found["six"].licenses == ("MIT",)
    assert found["old"].licenses == ("Apache Software License",)
    assert pypi_purl("Zope.Interface", "7.0") == "pkg:pypi/zope-interface@7.0"


def test_index_url_credentials_are_secrets() -> None:
    secrets = url_secrets("https://build:s3cr%40t@pypi.example/simple")
    assert "s3cr%40t" in secrets and "s3cr@t" in secrets and "build:s3cr%40t" in secrets
    assert url_secrets("https://pypi.example/simple") == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BPL_CPU_COUNT": "2"}, 'WEB_CONCURRENCY = "5"'),
        ({"BPL_CPU_COUNT": "4", "BPL_MEMORY_LIMIT": "512M"}, 'WEB_CONCURRENCY = "2"'),
        ({"BPL_CPU_COUNT": "1", "BPL_MEMORY_LIMIT": "100M"}, 'WEB_CONCURRENCY = "1"'),
        ({"WEB_CONCURRENCY": "7"}, ""),
    ],
)
def test_web_concurrency_from_cpus_and_memory(env: dict[str, str], expected: str) -> None:
    script = shell_program(CONCURRENCY_BODY)
    run = subprocess.run(
        ["sh", "-c", 'eval "$0" 3>&1', script],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        check=True,
    )
    assert run.stdout.strip() == expected


def test_the_stack_python_is_found_with_its_debian_package() -> None:
    stack = find_stack_python()
    if stack is None:
        pytest.fail("this host (a Debian machine, like the build image) has /usr/bin/python3")
    assert stack.package.startswith("python3.") and stack.version.startswith(stack.minor)
    dependency = stack.dependency()
    assert dependency.id == "cpython" and dependency.uri == f"stack:{stack.executable}"
    assert dependency.purl.startswith(f"pkg:deb/debian/{stack.package}@")
    # the extension modules' libraries the run image lacks: none of libc's or OpenSSL's
    modules = sorted((stack.stdlib / "lib-dynload").glob("*.so"))
    needed = needed_libraries([stack.executable, *modules])
    assert not {"libc.so.6", "libssl.so.3", "libz.so.1"} & set(needed)


def test_detect_passes_on_python_files(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    for name in ("requirements.txt", "pyproject.toml", ".python-version", "Pipfile"):
        result = run_detect(BUILDPACK, cnb_app({name: ""}))
        assert result.passed, result.output
        assert [p.name for p in result.plan.provides] == ["cpython"]


def test_detect_fails_without_python_files(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    result = run_detect(BUILDPACK, cnb_app({"package.json": "{}", "main.py": ""}))
    assert result.exit_code == 100
    assert "none of requirements.txt, pyproject.toml" in result.output


class _Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def process(self, text: str) -> None:
        self.lines.append(text)


def test_collectstatic_is_skipped_when_asked_or_not_configured(tmp_path: Path) -> None:
    from cnbsdk_python.django import collectstatic

    _write(tmp_path, {"manage.py": "", "mysite/settings.py": "STATIC_URL = 'static/'\n"})
    logger = _Logger()
    python = Path("/nonexistent/python")  # never run: each case is skipped before
    assert not collectstatic(tmp_path, {"flask"}, python, {}, {}, logger)
    assert not collectstatic(tmp_path, {"django"}, python, {}, {}, logger)
    assert logger.lines[-1] == "Skipping Django's collectstatic: the settings name no STATIC_ROOT"
    (tmp_path / "mysite/settings.py").write_text("STATIC_ROOT = 'staticfiles'\n")
    skip = {"BP_DISABLE_COLLECTSTATIC": "true"}
    assert not collectstatic(tmp_path, {"django"}, python, skip, {}, logger)
    assert logger.lines[-1] == "Skipping Django's collectstatic (BP_DISABLE_COLLECTSTATIC is set)"


class _Context:
    def __init__(self, bindings: list[Any]) -> None:
        self.bindings = bindings

    def bindings_of_type(self, kind: str) -> tuple[Any, ...]:
        return tuple(b for b in self.bindings if b.type == kind)


def test_the_index_comes_from_the_env_a_pip_binding_or_bp_pypi_index(tmp_path: Path) -> None:
    from cnbsdk_python.index import index_config

    from cnbsdk.buildpack import Binding

    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = https://ci:t0ken@mirror.example/simple\n")
    wheel = tmp_path / "six-1.17.0-py2.py3-none-any.whl"
    wheel.write_bytes(b"")
    with_conf = Binding("pip", tmp_path, "pip", entries={"pip.conf": conf})
    only_wheels = Binding("pip", tmp_path, "pip", entries={wheel.name: wheel})

    user = index_config(_Context([with_conf]), {"PIP_INDEX_URL": "https://u:pw1@a.example/s"})
    assert user.source == "the build env" and user.env["UV_DEFAULT_INDEX"].endswith("/s")
    assert "pw1" in user.secrets

    bound = index_config(_Context([with_conf]), {"BP_PYPI_INDEX": "https://b.example/simple"})
    assert bound.source == "the pip binding"
    assert bound.env["PIP_CONFIG_FILE"] == str(conf)
    assert bound.env["UV_DEFAULT_INDEX"] == "https://ci:t0ken@mirror.example/simple"
    assert "t0ken" in bound.secrets

    mirror = index_config(_Context([only_wheels]), {})
    assert mirror.source == "the pip binding (its packages only: no index)"
    assert mirror.env["PIP_FIND_LINKS"] == str(tmp_path) and mirror.env["PIP_NO_INDEX"] == "1"

    default = index_config(_Context([]), {"BP_PYPI_INDEX": "https://b.example/simple"})
    assert default.source == "BP_PYPI_INDEX"
    assert default.env["PIP_INDEX_URL"] == "https://b.example/simple"
