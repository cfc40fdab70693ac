"""``cnbsdk scan``: an image's packages (the run image's Debian packages, the npm and PyPI
components of a launch SBOM) against an OSV database the test writes; each ecosystem's own
version ordering; the layer that brought each package; ``--diff`` after a stack update and a
rebase; bad databases as one line."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.supply.conftest import ScannedApp, cnbsdk, rewrite_attachment


def advisory(
    advisory_id: str,
    ecosystem: str,
    name: str,
    events: list[dict[str, str]],
    **extra: object,
) -> dict[str, object]:
    return {
        "schema_version": "1.6.0",
        "id": advisory_id,
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"{advisory_id} in {name}",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
        **extra,
    }


CRITICAL = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
ADVISORIES = [
    # the run image's cnbsdk-probe 1.0-1 (matched by source package, Debian's ordering)
    advisory("DSA-9999-1", "Debian:12", "cnbsdk-probe", [{"introduced": "0"}, {"fixed": "1.0-2"}],
             severity=CRITICAL, aliases=["CVE-2099-0001"]),
    # fixed in exactly the installed version: not affected
    advisory("DSA-9999-2", "Debian:12", "cnbsdk-libs", [{"introduced": "0"}, {"fixed": "2.0-1"}]),
    # another release's advisory: not affected
    advisory("DLA-9999-1", "Debian:11", "cnbsdk-probe", [{"introduced": "0"}, {"fixed": "1.0-9"}]),
    # npm ms 2.0.0 (semver)
    advisory("GHSA-aaaa-bbbb-cccc", "npm", "ms", [{"introduced": "0"}, {"fixed": "2.0.1"}],
             database_specific={"severity": "MODERATE"}),
    advisory("GHSA-dddd-eeee-ffff", "npm", "@scope/safe",
             [{"introduced": "0"}, {"fixed": "1.0.0"}]),
    # PyPI Jinja2 2.10: 2.10 sorts after 2.9 (a text comparison would say otherwise)
    advisory("PYSEC-2099-1", "PyPI", "jinja2", [{"introduced": "2.0"}, {"fixed": "2.10.1"}],
             database_specific={"severity": "HIGH"}),
    advisory("PYSEC-2099-2", "PyPI", "Jinja2", [{"introduced": "0"}, {"fixed": "2.9"}]),
    advisory("GHSA-mvn0-0000-0000", "Maven", "org.example:lib", [{"introduced": "0"}]),
]  # fmt: skip


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("osv")
    for entry in ADVISORIES:
        ecosystem = str(entry["affected"][0]["package"]["ecosystem"]).split(":")[0]  # type: ignore[index]
        (root / ecosystem).mkdir(exist_ok=True)
        (root / ecosystem / f"{entry['id']}.json").write_text(json.dumps(entry))
    return root


def test_the_report_lists_exactly_the_affected_packages_and_who_brought_them(
    scanned_app: ScannedApp, database: Path
) -> None:
    result = cnbsdk("scan", scanned_app.ref("app"), "--db", str(database), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = {
        (f["package"], f["installed"], f["advisory"], f["fixedIn"], f["severity"], f["broughtBy"])
        for f in report["findings"]
    }
    assert found == {
        ("cnbsdk-probe", "1.0-1", "DSA-9999-1", "1.0-2", "CRITICAL", "run image"),
        ("ms", "2.0.0", "GHSA-aaaa-bbbb-cccc", "2.0.1", "MEDIUM", "tests/sbom-deps (deps)"),
        ("Jinja2", "2.10", "PYSEC-2099-1", "2.10.1", "HIGH", "tests/sbom-deps (deps)"),
    }
    assert report["counts"] == {"CRITICAL": 1, "HIGH": 1, "MEDIUM": 1, "LOW": 0, "UNKNOWN": 0}
    assert report["findings"][0]["aliases"] == ["CVE-2099-0001"]  # the most severe first

    table = cnbsdk("scan", scanned_app.ref("app"), "--db", str(database))
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PACKAGE", "INSTALLED", "FIXED", "IN", "ADVISORY", "SEVERITY",
                                "BROUGHT", "BY"]  # fmt: skip
    assert lines[1].split()[:5] == ["cnbsdk-probe", "1.0-1", "1.0-2", "DSA-9999-1", "CRITICAL"]
    assert lines[-1].startswith("3 advisories (1 critical, 1 high, 1 medium) in 5 packages")

    # the same database as a zip (osv.dev's export form)
    archive = database.parent / "all.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for file in database.rglob("*.json"):
            zipped.write(file, file.name)
    again = cnbsdk("scan", scanned_app.ref("app"), "--db", str(archive), "--json")
    assert json.loads(again.stdout)["findings"] == report["findings"]


def test_fail_on_sets_the_exit_status(scanned_app: ScannedApp, database: Path) -> None:
    app = scanned_app.ref("app")
    assert cnbsdk("scan", app, "--db", str(database), "--fail-on", "critical").returncode == 1
    ok = cnbsdk("scan", app, "--db", str(database), "--fail-on", "critical", "--json")
    assert ok.stderr.strip().endswith("scan: 1 advisories at or above critical (--fail-on)")
    # an image no advisory touches passes
    empty = database.parent / "empty-db"
    empty.mkdir(exist_ok=True)
    assert cnbsdk("scan", app, "--db", str(empty), "--fail-on", "low").returncode == 0


def test_merged_sbom_marks_what_brought_each_component(scanned_app: ScannedApp) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    result = cnbsdk("sbom", scanned_app.ref("app"), "--merged")
    assert result.returncode == 0, result.stderr
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(result.stdout) is None
    document = json.loads(result.stdout)
    by = {
        c["name"]: next(p["value"] for p in c["properties"] if p["name"] == "cnbsdk:brought-by")
        for c in document["components"]
    }
    assert by["cnbsdk-probe"] == by["cnbsdk-lib"] == "run image"
    assert by["ms"] == by["Jinja2"] == by["node"] == "tests/sbom-deps (deps)"


def test_diff_says_what_a_stack_update_and_rebase_fixed(
    scanned_app: ScannedApp, database: Path
) -> None:
    s = scanned_app
    s.repo.add("cnbsdk-probe", "1.0-2")
    s.repo.remove("cnbsdk-probe", "1.0-1")
    s.repo.publish()
    updated = cnbsdk("stack", "update", str(s.stack), "--run-image", s.ref("run"),
                     "--build-image", s.ref("probe-build"))  # fmt: skip
    assert updated.returncode == 0, updated.stderr
    rebased = cnbsdk("rebase", s.ref("app"), "--run-image", s.ref("run"), "-o", s.ref("app-2"))
    assert rebased.returncode == 0, rebased.stdout + rebased.stderr
    result = cnbsdk("scan", "--diff", s.ref("app"), s.ref("app-2"), "--db", str(database),
                    "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    change = json.loads(result.stdout)
    assert [(f["package"], f["advisory"]) for f in change["fixed"]] == [
        ("cnbsdk-probe", "DSA-9999-1")
    ]
    assert change["introduced"] == []
    text = cnbsdk("scan", "--diff", s.ref("app"), s.ref("app-2"), "--db", str(database))
    assert text.stdout.splitlines()[0] == "Fixed: 1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not an OSV advisory"),
        ('{"summary": "no id"}', "is not an OSV advisory: 'id'"),
        ('{"id": "X-1", "affected": [{"ranges": []}]}', "is not an OSV advisory: 'package'"),
    ],
)
def test_a_malformed_advisory_is_one_line_naming_the_file(
    scanned_app: ScannedApp, tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.json").write_text(content)
    result = cnbsdk("scan", scanned_app.ref("app"), "--db", str(tmp_path))
    assert result.returncode != 0
    assert result.stderr.strip() == result.stderr.strip().splitlines()[0]
    assert f"{tmp_path / 'bad.json'}: {message}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_sbom_attestation_signs_the_merged_sbom(
    scanned_app: ScannedApp, tmp_path: Path
) -> None:
    import base64
    import os

    env = {**os.environ, "COSIGN_PASSWORD": "attest-pw"}
    keys = subprocess.run(
        [sys.executable, "-m", "cnbsdk.cli.main", "generate-key-pair"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert keys.returncode == 0, keys.stderr
    app = scanned_app.ref("app")
    attested = cnbsdk("attest", app, "--key", str(tmp_path / "cosign.key"), env=env)
    assert attested.returncode == 0, attested.stderr
    assert "attest-pw" not in attested.stdout + attested.stderr
    checked = cnbsdk("verify-attestation", app, "--key", str(tmp_path / "cosign.pub"), "--json")
    assert checked.returncode == 0, checked.stderr
    (statement,) = json.loads(checked.stdout)
    merged = json.loads(cnbsdk("sbom", app, "--merged").stdout)
    assert statement["predicate"] == merged
    assert statement["predicateType"] == "https://cyclonedx.org/bom"
    # the .att layer is a DSSE envelope; its payload edited, verification fails in one line
    digest = json.loads(checked.stdout)[0]["subject"][0]["digest"]["sha256"]

    def edit(manifest: dict[str, object], payloads: list[bytes]) -> None:
        envelope = json.loads(payloads[0])
        assert envelope["payloadType"] == "application/vnd.in-toto+json"
        body = json.loads(base64.b64decode(envelope["payload"]))
        body["predicate"]["components"] = []
        envelope["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
        payloads[0] = json.dumps(envelope).encode()

    rewrite_attachment(f"oci:{scanned_app.out}:sha256-{digest}.att", edit)
    tampered = cnbsdk("verify-attestation", app, "--key", str(tmp_path / "cosign.pub"))
    assert tampered.returncode == 1
    assert "the envelope's signature does not verify with key" in tampered.stderr
    assert len(tampered.stderr.strip().splitlines()) == 1
