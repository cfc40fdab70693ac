"""Patching the OS against a local apt repository the test controls (real apt, real
``dpkg-deb`` packages, ``apt-ftparchive`` indices): ``cnbsdk stack update`` reports exactly
what changed and the CVEs the changelog names; ``stack create`` reproduces a lock exactly,
from the ``.deb`` cache when the mirror is gone; damaged caches and locks are one-line errors.
Starts: apt-get (isolated), dpkg-deb, apt-ftparchive.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import cnbsdk
from local_apt import ChangelogEntry, LocalAptRepo, stack_file

from cnbsdk.oci.open import read_manifest_and_config
from cnbsdk.stacks.lock import StackLock

PROBE_FIX = [
    ChangelogEntry("1.0-2", "Fix a heap overflow in the parser (CVE-2099-0001)."),
    ChangelogEntry("1.0-1", "Initial release; already fixed CVE-2098-0007."),
]


@dataclass
class Probe:
    """A stack of three packages from two source packages, made from a local repository."""

    repo: LocalAptRepo
    stack: Path
    out: Path
    cache: Path

    @property
    def lock(self) -> Path:
        return self.stack.with_name("stack.lock")

    def ref(self, kind: str, layout: Path | None = None) -> str:
        return f"oci:{layout or self.out}:{kind}"

    def run(self, *args: str) -> tuple[int, str, str]:
        result = cnbsdk(*args)
        return result.returncode, result.stdout, result.stderr

    def create(self, *extra: str, layout: Path | None = None) -> tuple[int, str, str]:
        return self.run(
            "stack", "create", str(self.stack),
            "--run-image", self.ref("run", layout), "--build-image", self.ref("build", layout),
            *extra,
        )  # fmt: skip

    def update(self, *extra: str) -> tuple[int, str, str]:
        return self.run(
            "stack", "update", str(self.stack),
            "--run-image", self.ref("run"), "--build-image", self.ref("build"), *extra,
        )  # fmt: skip


def layers(ref: str) -> list[str]:
    resolved, _config = read_manifest_and_config(ref)
    return [layer.digest for layer in resolved.manifest.layers]


def digest(ref: str) -> str:
    return read_manifest_and_config(ref)[0].digest


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Probe]:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNBSDK_CACHE_DIR", str(cache))
    repo = LocalAptRepo(tmp_path / "repo")
    repo.add("cnbsdk-probe", "1.0-1", changelog=PROBE_FIX[1:])
    repo.add("cnbsdk-lib", "2.0-1", source="cnbsdk-libs")
    repo.add("cnbsdk-lib-extra", "2.0-1", source="cnbsdk-libs", depends="cnbsdk-lib")
    repo.publish()
    stack = stack_file(
        tmp_path / "stack-definition.toml",
        repo,
        run=["cnbsdk-probe", "cnbsdk-lib"],
        build=["cnbsdk-probe", "cnbsdk-lib-extra"],
    )
    p = Probe(repo, stack, tmp_path / "out", cache)
    code, _, err = p.create()
    assert code == 0, err
    yield p


def patch_probe(repo: LocalAptRepo) -> None:
    """Debian ships a fix: 1.0-2 replaces 1.0-1, which leaves the archive."""
    repo.add("cnbsdk-probe", "1.0-2", changelog=PROBE_FIX)
    repo.remove("cnbsdk-probe", "1.0-1")
    repo.publish()


def test_update_reports_the_package_its_cve_and_the_changed_layers(probe: Probe) -> None:
    before = {kind: layers(probe.ref(kind)) for kind in ("run", "build")}
    old_digests = {kind: digest(probe.ref(kind)) for kind in ("run", "build")}
    patch_probe(probe.repo)

    code, out, err = probe.update("--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["changed"] is True
    assert report["packages"] == [
        {
            "name": "cnbsdk-probe",
            "source": "cnbsdk-probe",
            "old": "1.0-1",
            "new": "1.0-2",
            "cves": ["CVE-2099-0001"],
            "note": "",
        }
    ]
    assert report["cves"] == ["CVE-2099-0001"]
    for image in report["images"]:
        kind = image["kind"]
        assert image["oldDigest"] == old_digests[kind]
        assert image["newDigest"] == digest(probe.ref(kind)) != old_digests[kind]
        changed = {layer["name"] for layer in image["changedLayers"]}
        assert changed == {"deb:cnbsdk-probe", "sbom"}
        assert image["changedBytes"] == sum(x["size"] for x in image["changedLayers"]) > 0
        after = layers(probe.ref(kind))
        new_digests = {layer["digest"] for layer in image["changedLayers"]}
        kept = [d for d in after if d not in new_digests]
        # every layer of every other package (and the skeleton and config) keeps its digest
        assert len(kept) == len(after) - 2 and set(kept) <= set(before[kind])
    lock = StackLock.read(probe.lock)
    assert lock.by_name()["cnbsdk-probe"].version == "1.0-2"
    kept_report = json.loads(probe.lock.with_name("stack.update.json").read_text())
    assert kept_report["packages"] == report["packages"]

    # nothing more to do: said so, nothing rewritten
    lock_bytes = probe.lock.read_bytes()
    code, out, err = probe.update()
    assert code == 0, err
    assert "nothing to update" in out
    assert probe.lock.read_bytes() == lock_bytes
    assert {kind: digest(probe.ref(kind)) for kind in ("run", "build")} == {
        image["kind"]: image["newDigest"] for image in report["images"]
    }


def test_update_text_report_names_package_versions_cves_and_layers(probe: Probe) -> None:
    patch_probe(probe.repo)
    code, out, err = probe.update()
    assert code == 0, err
    assert "cnbsdk-probe 1.0-1 → 1.0-2  fixes CVE-2099-0001" in out
    assert "CVE-2098-0007" not in out  # fixed before the old version: not this update's
    assert "run image" in out and "2 of 5 layers changed" in out
    assert "deb:cnbsdk-probe, sbom" in out
    assert f"lock {probe.lock} written" in out


def test_create_from_the_lock_offline_gives_the_same_digests_when_the_mirror_is_gone(
    probe: Probe, tmp_path: Path
) -> None:
    want = {kind: digest(probe.ref(kind)) for kind in ("run", "build")}
    shutil.rmtree(probe.repo.root)  # the repository no longer answers
    for extra in ((), ("--offline",)):
        layout = tmp_path / f"again{len(extra)}"
        code, out, err = probe.create(*extra, layout=layout)
        assert code == 0, err
        assert {kind: digest(probe.ref(kind, layout)) for kind in ("run", "build")} == want
        assert "unchanged" in out


def _one_line_error(code: int, err: str) -> str:
    assert code == 1, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_a_pin_neither_the_cache_nor_the_mirror_has_names_the_packages(
    probe: Probe, tmp_path: Path
) -> None:
    patch_probe(probe.repo)  # 1.0-1 leaves the mirror ...
    shutil.rmtree(probe.cache / "debs")  # ... and the cache
    layout = tmp_path / "new"
    code, _, err = probe.create(layout=layout)
    error = _one_line_error(code, err)
    assert "cnbsdk-probe 1.0-1 is no longer in the apt sources" in error
    assert "`cnbsdk stack update`" in error and str(probe.lock) in error
    assert not layout.exists()

    code, _, err = probe.create("--offline", layout=layout)
    error = _one_line_error(code, err)
    assert "cnbsdk-lib 2.0-1" in error and "cnbsdk-probe 1.0-1" in error
    assert "--offline" in error
    assert not layout.exists()


def _cached_deb(probe: Probe, name: str) -> Path:
    package = StackLock.read(probe.lock).by_name()[name]
    return probe.cache / "debs" / f"{package.sha256}.deb"


def test_a_damaged_deb_in_the_cache_is_dropped_and_fetched_again(
    probe: Probe, tmp_path: Path
) -> None:
    want = digest(probe.ref("run"))
    deb = _cached_deb(probe, "cnbsdk-lib")
    good = deb.read_bytes()
    deb.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # same size, other SHA256

    layout = tmp_path / "offline"
    code, _, err = probe.create("--offline", layout=layout)
    error = _one_line_error(code, err)
    assert "cnbsdk-lib 2.0-1 is not in the .deb cache" in error
    assert not deb.exists(), "the damaged file is dropped"
    assert not layout.exists()

    deb.write_bytes(b"garbage")
    layout = tmp_path / "online"
    code, _, err = probe.create(layout=layout)
    assert code == 0, err
    assert deb.read_bytes() == good
    assert digest(probe.ref("run", layout)) == want


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("version = 1\n", "version = 7\n", 1), "lock.version"),
        (lambda t: t.replace('released = "', 'released = "yesterday', 1), "lock.released"),
        (lambda t: t.replace('sha256 = "', 'sha256 = "zz', 1), "sha256"),
        (lambda t: t.replace("size = ", 'size = "', 1).replace("\nsha", '"\nsha', 1), "size"),
        (lambda t: t.replace('filename = "', 'filename = "/etc/', 1), "filename"),
        (lambda t: t.replace("[images]", "[imagez]", 1), "images"),
        (lambda t: t.replace("[lock]", "[lock", 1), None),
        (lambda t: t.replace('"cnbsdk-lib",', '"cnbsdk-nope",', 1), "images.build"),
    ],
)
def test_a_lock_edited_to_nonsense_is_one_line_naming_file_and_field(
    probe: Probe, tmp_path: Path, edit: object, field: str | None
) -> None:
    text = probe.lock.read_text()
    assert callable(edit)
    probe.lock.write_text(edit(text))
    for command in (probe.create, probe.update):
        layout = tmp_path / "out2"
        if command is probe.create:
            code, _, err = command(layout=layout)
        else:
            code, _, err = command()
        error = _one_line_error(code, err)
        assert str(probe.lock) in error
        if field:
            assert field in error
        assert not layout.exists()
    assert probe.lock.read_text() == edit(text), "the lock is left as it was"


def test_update_default_follows_the_distribution(
    probe: Probe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default stack made from a stale 'shipped' lock: one line says what Debian
    replaced; the lock really used is kept in CNBSDK_HOME and shown by inspect; later
    uses touch no network; `update --default` patches it."""
    from cnbsdk.lifecycle.default_stack import (
        DEFAULT_RUN_IMAGE,
        default_lock_file,
        default_stack,
        update_default_stack,
    )

    monkeypatch.setenv("CNBSDK_HOME", str(tmp_path / "home"))
    patch_probe(probe.repo)
    shutil.rmtree(probe.cache / "debs")  # the shipped lock's 1.0-1 is nowhere to be had
    lines: list[str] = []
    stack = default_stack(log=lines.append, stack_file=probe.stack)
    assert stack.created and stack.lock_file == default_lock_file()
    replaced = [line for line in lines if "replaced" in line]
    assert replaced == [
        "Debian replaced 1 package since the shipped lock (cnbsdk-probe 1.0-1 → 1.0-2):"
        " using the newest versions"
    ]
    kept = StackLock.read(default_lock_file())
    assert kept.by_name()["cnbsdk-probe"].version == "1.0-2"
    assert StackLock.read(probe.lock).by_name()["cnbsdk-probe"].version == "1.0-1"

    result = cnbsdk("inspect", DEFAULT_RUN_IMAGE)
    assert result.returncode == 0, result.stderr
    assert f"file: {default_lock_file()}" in result.stdout

    shutil.rmtree(probe.repo.root)  # later uses need no network
    again = default_stack(stack_file=probe.stack)
    assert not again.created

    probe.repo.root.mkdir()
    probe.repo.add("cnbsdk-probe", "1.0-3", changelog=[
        ChangelogEntry("1.0-3", "Security fix: CVE-2099-0002, CVE-2099-0003."), *PROBE_FIX,
    ])  # fmt: skip
    probe.repo.add("cnbsdk-lib", "2.0-1", source="cnbsdk-libs")
    probe.repo.add("cnbsdk-lib-extra", "2.0-1", source="cnbsdk-libs", depends="cnbsdk-lib")
    probe.repo.publish()
    before = digest(DEFAULT_RUN_IMAGE)
    report = update_default_stack(stack_file=probe.stack)
    assert [(c.name, c.old, c.new, c.cves) for c in report.packages] == [
        ("cnbsdk-probe", "1.0-2", "1.0-3", ("CVE-2099-0002", "CVE-2099-0003"))
    ]
    assert digest(DEFAULT_RUN_IMAGE) != before
    assert StackLock.read(default_lock_file()).by_name()["cnbsdk-probe"].version == "1.0-3"
    assert os.path.exists(default_lock_file().with_name("stack.update.json"))


def test_a_package_added_to_an_image_is_reported_and_written(probe: Probe) -> None:
    """The stack file asks for one more package in the run image (the lock was made for
    other lists): `update` resolves again and says which image gained it."""
    text = probe.stack.read_text()
    probe.stack.write_text(
        text.replace(
            '"cnbsdk-probe", "cnbsdk-lib"]', '"cnbsdk-probe", "cnbsdk-lib", "cnbsdk-lib-extra"]', 1
        )
    )
    code, out, err = probe.update("--json")
    assert code == 0, err
    report = json.loads(out)
    assert [(p["name"], p["old"], p["new"], p["note"]) for p in report["packages"]] == [
        ("cnbsdk-lib-extra", "2.0-1", "2.0-1", "added to the run image")
    ]
    run = next(i for i in report["images"] if i["kind"] == "run")
    assert {layer["name"] for layer in run["changedLayers"]} == {"deb:cnbsdk-libs", "sbom"}
    assert "cnbsdk-lib-extra" in StackLock.read(probe.lock).run


def test_the_default_stack_is_remade_when_its_package_lists_change(
    probe: Probe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnbsdk.lifecycle.default_stack import DEFAULT_RUN_IMAGE, default_stack

    monkeypatch.setenv("CNBSDK_HOME", str(tmp_path / "home"))
    assert default_stack(stack_file=probe.stack).created
    before = digest(DEFAULT_RUN_IMAGE)
    assert not default_stack(stack_file=probe.stack).created
    text = probe.stack.read_text()
    probe.stack.write_text(
        text.replace(
            '"cnbsdk-probe", "cnbsdk-lib"]', '"cnbsdk-probe", "cnbsdk-lib", "cnbsdk-lib-extra"]', 1
        )
    )
    (probe.stack.with_name("stack.lock")).unlink()  # a newer cnbsdk ships lists and lock together
    lines: list[str] = []
    assert default_stack(log=lines.append, stack_file=probe.stack).created
    assert any("made by another cnbsdk or for other packages" in line for line in lines)
    assert digest(DEFAULT_RUN_IMAGE) != before
