"""Finding a file's URL in a Python package index's "simple" API (PEP 503 HTML, PEP 691 JSON).

A ``pypi:/<project>/<file name>`` catalog URI names a file, not where it lives: the index
says. A ``file://`` index may simply be a directory per project holding the files (what
``pip download -d`` gives, sorted by project). Standard library only (vendored).
"""

from __future__ import annotations

import html.parser
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cnbsdk.deps.download import DEFAULT_TIMEOUT, tls_context
from cnbsdk.errors import DependencyError

_JSON = "application/vnd.pypi.simple.v1+json"
_ACCEPT = f"{_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


def normalize(project: str) -> str:
    """A project name as the simple API spells it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", project).lower()


def find_file_url(
    index: str,
    project: str,
    filename: str,
    *,
    user_agent: str = "cnbsdk",
    timeout: float = DEFAULT_TIMEOUT,
    extra_ca_files: Sequence[Path] = (),
) -> str:
    """The URL of ``filename`` among ``project``'s files on ``index``."""
    page = index.rstrip("/") + "/" + normalize(project) + "/"
    if page.startswith("file://"):
        directory = Path(urllib.request.url2pathname(urllib.parse.urlsplit(page).path))
        if (directory / filename).is_file():
            return (directory / filename).as_uri()
        if not (directory / "index.html").is_file():
            raise DependencyError(f"{filename} is not in the index", file=page)
        links = _html_links((directory / "index.html").read_text(errors="replace"))
        return _pick(links, filename, page)
    request = urllib.request.Request(page, headers={"User-Agent": user_agent, "Accept": _ACCEPT})
    tls = tls_context(extra_ca_files, page) if page.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls) as response:
            kind = response.headers.get("Content-Type", "")
            body = response.read().decode("utf-8", errors="replace")
            final = response.geturl()
    except urllib.error.HTTPError as error:
        raise DependencyError(
            f"the package index answered HTTP {error.code} for {project!r}", file=page
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", None) or error
        raise DependencyError(f"cannot read the package index: {reason}", file=page) from None
    if kind.startswith(_JSON):
        try:
            files = json.loads(body)["files"]
            links = {str(f["filename"]): str(f["url"]) for f in files}
        except (ValueError, KeyError, TypeError):
            raise DependencyError("the package index sent a malformed answer", file=page) from None
    else:
        links = _html_links(body)
    return str(urllib.parse.urljoin(final, _pick(links, filename, page)))


def _pick(links: dict[str, str], filename: str, page: str) -> str:
    url = links.get(filename)
    if url is None:
        raise DependencyError(f"{filename} is not in the index", file=page)
    return url.split("#", 1)[0]


class _Anchors(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            name = self._text.strip() or urllib.parse.unquote(
                urllib.parse.urlsplit(self._href).path.rsplit("/", 1)[-1]
            )
            self.links.setdefault(name, self._href)
            self._href = None


def _html_links(text: str) -> dict[str, str]:
    parser = _Anchors()
    parser.feed(text)
    return parser.links
