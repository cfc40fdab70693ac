"""The app's processes: a ``Procfile``; else a ``web`` process from what the app is —
gunicorn for a WSGI app (Django's ``wsgi.py``, a Flask ``app``), uvicorn for an ASGI app
(FastAPI, Starlette) when that server is installed; else ``python main.py``/``app.py``.

gunicorn binds ``0.0.0.0:$PORT`` by itself when ``PORT`` is set (the layer sets 8080 unless
the platform sets it), and both servers take their worker count from ``WEB_CONCURRENCY``.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path

from cnbsdk.buildpack import Process
from cnbsdk.buildpack.procfile import procfile_processes

_ASGI = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:fastapi\.)?(FastAPI|Starlette|Quart)\(", re.M)
_WSGI = re.compile(r"^(\w+)\s*(?::[^=]+)?=\s*(?:flask\.)?(Flask)\(", re.M)
ENTRY_FILES = ("main.py", "app.py", "wsgi.py", "asgi.py", "server.py")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "static", "tests"}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def django_wsgi_module(root: Path) -> str | None:
    """``mysite.wsgi`` for a Django project (``manage.py`` and a ``*/wsgi.py`` that calls
    ``get_wsgi_application``)."""
    if not (root / "manage.py").is_file():
        return None
    for wsgi in sorted(root.glob("*/wsgi.py")) + sorted(root.glob("src/*/wsgi.py")):
        if "get_wsgi_application" in _read(wsgi):
            relative = wsgi.relative_to(root).with_suffix("")
            parts = relative.parts[1:] if relative.parts[0] == "src" else relative.parts
            return ".".join(parts)
    return None


def _app_object(root: Path, pattern: re.Pattern[str]) -> str | None:
    """``main:app`` for the first entry file (then package ``__init__``/``main``) that
    makes the framework's app object at module level."""
    candidates = [root / name for name in ENTRY_FILES]
    candidates += sorted(
        p
        for p in root.glob("*/*.py")
        if p.parent.name not in _SKIP_DIRS and p.name in ("__init__.py", "main.py", "app.py")
    )
    for path in candidates:
        match = pattern.search(_read(path)) if path.is_file() else None
        if match:
            relative = path.relative_to(root).with_suffix("")
            module = ".".join(relative.parts)
            module = module.removesuffix(".__init__")
            return f"{module}:{match.group(1)}"
    return None


def web_process(root: Path, installed: Collection[str], python: str) -> tuple[Process | None, str]:
    """The default ``web`` process from what the app is and what is installed (normalised
    distribution names), and a description for the log."""
    if "gunicorn" in installed:
        wsgi = django_wsgi_module(root)
        if wsgi:
            return _web(f"exec gunicorn {wsgi}:application"), f"Django ({wsgi}) with gunicorn"
        flask = _app_object(root, _WSGI)
        if flask:
            return _web(f"exec gunicorn {flask}"), f"Flask ({flask}) with gunicorn"
    if "uvicorn" in installed:
        asgi = _app_object(root, _ASGI)
        if asgi:
            command = f'exec uvicorn {asgi} --host 0.0.0.0 --port "${{PORT:-8080}}"'
            return _web(command), f"ASGI app ({asgi}) with uvicorn"
    for name in ("main.py", "app.py"):
        if (root / name).is_file():
            return Process("web", [python, name], default=True), name
    return None, ""


def _web(command: str) -> Process:
    return Process("web", ["sh", "-c", command], default=True)


def processes(root: Path, installed: Collection[str], python: str) -> tuple[list[Process], str]:
    """The processes (``web`` the default) and where they came from, for the log."""
    procfile = root / "Procfile"
    if procfile.is_file():
        return procfile_processes(procfile), "Procfile"
    web, source = web_process(root, installed, python)
    return ([web], source) if web else ([], "")
