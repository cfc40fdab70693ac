"""``cnbsdk new buildpack``: a plugin distribution that passes its own tests once installed.

The templates live in ``templates/buildpack/`` (``$name`` placeholders, ``string.Template``);
``package/`` is renamed to the Python package and ``.tmpl`` is dropped from every name.
"""

from __future__ import annotations

import keyword
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from string import Template

from cnbsdk.errors import CnbError, SpecError
from cnbsdk.spec.ids import BuildpackId, BuildpackVersion, author_buildpack_api

TEMPLATE_SUFFIX = ".tmpl"
DEFAULT_API = "0.10"
DEFAULT_VERSION = "0.1.0"


@dataclass(frozen=True)
class BuildpackProject:
    """The names one scaffolded project uses."""

    id: BuildpackId
    package: str
    distribution: str
    version: BuildpackVersion
    api: str

    @property
    def name(self) -> str:
        return self.distribution.replace("-", " ").title()

    def substitutions(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "package": self.package,
            "distribution": self.distribution,
            "version": str(self.version),
            "api": self.api,
            "name": self.name,
        }


def project_for(
    directory: Path,
    buildpack_id: str,
    *,
    package: str | None = None,
    version: str = DEFAULT_VERSION,
    api: str = DEFAULT_API,
) -> BuildpackProject:
    """Validate the names; the package and distribution default to the directory's name."""
    try:
        bp_id = BuildpackId(buildpack_id)
        bp_version = BuildpackVersion(version)
        bp_api = str(author_buildpack_api(api))
    except CnbError as error:
        raise SpecError(error.message, field="--id/--version/--api") from None
    base = Path(os.path.abspath(directory)).name
    distribution = re.sub(r"[^A-Za-z0-9.]+", "-", base).strip("-.").lower()
    if package is not None and not _is_package_name(package):
        raise SpecError(f"{package!r} is not a valid Python package name", field="--package")
    package = package or re.sub(r"[^0-9a-zA-Z]+", "_", distribution).strip("_")
    if not _is_package_name(package) or not distribution:
        raise SpecError(
            f"cannot make a Python package name from {base!r}", hint="pass --package NAME"
        )
    return BuildpackProject(bp_id, package, distribution, bp_version, bp_api)


def _is_package_name(name: str) -> bool:
    """A name ``import`` accepts: an identifier that is not a keyword (``class``, ``import``)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def _walk(node: Traversable, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    files: list[tuple[tuple[str, ...], str]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            if child.name != "__pycache__":
                files.extend(_walk(child, (*prefix, child.name)))
        elif child.name.endswith(TEMPLATE_SUFFIX):
            files.append(((*prefix, child.name), child.read_text(encoding="utf-8")))
    return files


def render(project: BuildpackProject) -> dict[Path, str]:
    """Every file of the project: relative path -> text."""
    templates = resources.files("cnbsdk.scaffold").joinpath("templates", "buildpack")
    rendered: dict[Path, str] = {}
    for parts, text in _walk(templates):
        names = [project.package if p == "package" else p for p in parts]
        names[-1] = names[-1].removesuffix(TEMPLATE_SUFFIX)
        rendered[Path(*names)] = Template(text).substitute(project.substitutions())
    return rendered


def _unwritable(directory: Path, error: OSError) -> CnbError:
    """Name the directory the user gave (not the temporary sibling) and, when a parent is
    a file, that parent."""
    for parent in directory.parents:
        if parent.is_symlink() or parent.exists():
            if not parent.is_dir():
                return CnbError(
                    f"cannot create it: {parent} is not a directory", file=str(directory)
                )
            break
    return CnbError(f"cannot create it: {error.strerror or error}", file=str(directory))


def new_buildpack_project(
    directory: str | os.PathLike[str], project: BuildpackProject
) -> list[Path]:
    """Write the project into ``directory`` (absent or empty); returns the files written.

    The files are written to a temporary directory beside it and moved into place at the
    end, so a failure leaves nothing behind.
    """
    directory = Path(os.path.abspath(directory))
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise CnbError("already exists and is not an empty directory", file=str(directory))
    files = render(project)
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    except OSError as error:
        raise _unwritable(directory, error) from None
    try:
        for relative, text in files.items():
            (stage / relative).parent.mkdir(parents=True, exist_ok=True)
            (stage / relative).write_text(text, encoding="utf-8")
        stage.chmod(0o755)
        os.replace(stage, directory)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return sorted(directory / relative for relative in files)
