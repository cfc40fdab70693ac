"""The isolated import check of a packaged buildpack's lib/ (cnbsdk.distribution.vendor):
every vendored package is imported with only lib/ and the standard library, so a missing
transitive dependency fails packaging, naming it and the --vendor that adds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.distribution.vendor import (
    RUNTIME_PACKAGES,
    check_imports,
    vendor_cnbsdk_runtime,
    vendor_package,
)
from cnbsdk.errors import PackageError

RUNTIME = ["cnbsdk.buildpack.runtime", *RUNTIME_PACKAGES]


def lib_with(tmp_path: Path, *extra: str) -> Path:
    lib = tmp_path / "lib"
    vendor_cnbsdk_runtime(lib)
    for name in (*RUNTIME_PACKAGES, *extra):
        vendor_package(name, lib)
    return lib


def test_a_vendored_package_missing_its_own_dependency_names_it(tmp_path: Path):
    lib = lib_with(tmp_path, "requests")  # requests imports urllib3 first thing
    with pytest.raises(PackageError) as raised:
        check_imports(lib, [*RUNTIME, "requests"], file="bp")
    assert str(raised.value) == (
        "bp: the packaged buildpack cannot import 'requests' from lib/: "
        "No module named 'urllib3' (add it with --vendor urllib3)"
    )


def test_self_contained_vendored_packages_pass(tmp_path: Path):
    lib = lib_with(tmp_path, "click")
    check_imports(lib, [*RUNTIME, "click"], file="bp")


def test_a_module_that_fails_for_another_reason_is_reported_with_its_error(tmp_path: Path):
    lib = lib_with(tmp_path)
    (lib / "broken.py").write_text("raise RuntimeError('needs a database')\n")
    with pytest.raises(PackageError, match=r"cannot import 'broken' from lib/: RuntimeError: "):
        check_imports(lib, [*RUNTIME, "broken"], file="bp")


def test_packaging_with_a_vendored_package_missing_a_dependency_fails(tmp_path: Path):
    from click.testing import CliRunner

    from cnbsdk.cli.main import cli

    hello = Path(__file__).parents[2] / "examples" / "hello-buildpack"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["package", "buildpack", str(hello), "--output", str(out), "--vendor", "requests"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: {hello / 'hello_buildpack'}: the packaged buildpack cannot import 'requests' "
        "from lib/: No module named 'urllib3' (add it with --vendor urllib3)"
    ]
    assert not out.exists()
