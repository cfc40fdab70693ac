"""Which ``--buildpack`` values name a buildpackage (``distribution.buildpack_source``): the
precedence docs/commands.md documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.distribution.buildpack_source import buildpackage_reference
from cnbsdk.errors import BuildError


def test_the_precedence_of_buildpack_sources(tmp_path: Path) -> None:
    directory = tmp_path / "bp"
    directory.mkdir()
    cnb = tmp_path / "x.cnb"
    cnb.write_bytes(b"")
    assert buildpackage_reference(str(directory)) is None
    assert buildpackage_reference(str(cnb)) == str(cnb)
    assert buildpackage_reference("x.cnb", base=tmp_path) == str(cnb)
    assert buildpackage_reference(f"file://{cnb}") == str(cnb)
    assert buildpackage_reference("127.0.0.1:5000/bps/x:1") == "127.0.0.1:5000/bps/x:1"
    assert buildpackage_reference("localhost/bps/x") == "localhost/bps/x"
    assert buildpackage_reference("docker://127.0.0.1:5000/x") == "docker://127.0.0.1:5000/x"
    assert buildpackage_reference("oci:/tmp/layout:t") == "oci:/tmp/layout:t"
    assert buildpackage_reference("my/bp:1") == "my/bp:1"  # the local store
    # plugin ids (and a builder's ID@VERSION) stay what they were
    assert buildpackage_reference("examples/hello") is None
    assert buildpackage_reference("e2e/hello@1.0.0") is None
    assert buildpackage_reference("./missing-dir") is None
    with pytest.raises(BuildError, match=r"no such \.cnb file"):
        buildpackage_reference("gone.cnb", base=tmp_path)
