"""Django's ``collectstatic`` at build time, as Heroku runs it: when Django is installed,
``manage.py`` exists and the settings name a ``STATIC_ROOT``. ``BP_DISABLE_COLLECTSTATIC``
(or Heroku's ``DISABLE_COLLECTSTATIC``) set to 1/true skips it; a failure fails the build."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from cnbsdk.buildpack.tools import run_tool

SKIP_VARIABLES = ("BP_DISABLE_COLLECTSTATIC", "DISABLE_COLLECTSTATIC")


def _configured(root: Path) -> bool:
    for settings in [*root.glob("*/settings.py"), *root.glob("*/settings/*.py")]:
        try:
            if "STATIC_ROOT" in settings.read_text(errors="replace"):
                return True
        except OSError:
            continue
    return False


def collectstatic(
    root: Path,
    installed: Collection[str],
    python: Path,
    environ: Mapping[str, str],
    env: Mapping[str, str],
    logger: Any,
) -> bool:
    """Run ``manage.py collectstatic --noinput`` when it applies; True when it ran."""
    if "django" not in installed or not (root / "manage.py").is_file():
        return False
    skip = next((n for n in SKIP_VARIABLES if environ.get(n, "").lower() in ("1", "true")), "")
    if skip:
        logger.process(f"Skipping Django's collectstatic ({skip} is set)")
        return False
    if not _configured(root):
        logger.process("Skipping Django's collectstatic: the settings name no STATIC_ROOT")
        return False
    logger.process("Collecting Django's static files")
    run_tool([python, "manage.py", "collectstatic", "--noinput"], logger=logger, cwd=root, env=env)
    return True
