"""BP_DEPENDENCY_MIRROR[_<HOST>] rewriting, as packit encodes host names."""

from __future__ import annotations

import pytest

from cnbsdk.deps import DependencyError, mirror_uri
from cnbsdk.deps.mirrors import decode_host

URI = "https://dl.example-cdn.org/node/v22/node.tgz"


def test_host_names_decode_like_packit() -> None:
    assert decode_host("DL_EXAMPLE__CDN_ORG") == "dl.example-cdn.org"


def test_no_mirror_leaves_the_uri() -> None:
    assert mirror_uri(URI, {"PATH": "/bin"}) == URI


def test_default_mirror_takes_the_original_path() -> None:
    env = {"BP_DEPENDENCY_MIRROR": "https://mirror.example.invalid/cache"}
    assert mirror_uri(URI, env) == "https://mirror.example.invalid/cache/node/v22/node.tgz"


def test_host_mirror_beats_the_default_and_fills_original_host() -> None:
    env = {
        "BP_DEPENDENCY_MIRROR": "https://default.example.invalid",
        "BP_DEPENDENCY_MIRROR_DL_EXAMPLE__CDN_ORG": "file:///srv/mirror/{originalHost}",
    }
    assert mirror_uri(URI, env) == "file:///srv/mirror/dl.example-cdn.org/node/v22/node.tgz"
    other = "https://other.example.invalid/x.tgz"
    assert mirror_uri(other, env) == "https://default.example.invalid/x.tgz"


def test_plain_http_mirror_is_refused_unless_loopback() -> None:
    with pytest.raises(
        DependencyError, match=r"BP_DEPENDENCY_MIRROR: mirror .* https:// or file://"
    ):
        mirror_uri(URI, {"BP_DEPENDENCY_MIRROR": "http://mirror.example.invalid"})
    loopback = mirror_uri(URI, {"BP_DEPENDENCY_MIRROR": "http://127.0.0.1:8080"})
    assert loopback == "http://127.0.0.1:8080/node/v22/node.tgz"
