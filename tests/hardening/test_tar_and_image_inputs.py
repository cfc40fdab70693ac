"""Crafted layer tars and images (issue #11 classes 1 and 4): numbers no file system can
hold and layers that do not match their digest or diffID end in one line naming the entry or
the layer, and leave nothing unpacked under the final name."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnbsdk.distribution.builder_inspect import extract_buildpacks
from cnbsdk.distribution.buildpackage import read_buildpackage
from cnbsdk.errors import CnbError, ExtractionError, ImageError
from cnbsdk.lifecycle.rootfs import unpacked_rootfs
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor, digest_hex
from cnbsdk.oci.extract import extract_image_layer, extract_layer
from cnbsdk.oci.layout import OciLayout, OciLayoutSource
from tests.hardening.conftest import assert_one_line_error, run_cli

CONFIG_ENV = ["CNB_USER_ID=1000", "CNB_GROUP_ID=1000", "PATH=/usr/bin:/bin"]


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def entry(
    name: str, *, data: bytes = b"x", pax: dict[str, str] | None = None, **fields: object
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    if pax:
        info.pax_headers = pax
    return info, data if info.isreg() else None


BAD_ENTRIES = {
    "uid-2^40": entry("f", pax={"uid": str(2**40)}),
    "gid-2^40": entry("f", pax={"gid": str(2**40)}),
    "uid-2^64": entry("f", pax={"uid": str(2**64)}),
    "uid-2^32-1": entry("f", pax={"uid": str(2**32 - 1)}),
    "mtime-1e30": entry("f", pax={"mtime": "1" + "0" * 30}),
    "mtime-minus-1e30": entry("f", pax={"mtime": "-1" + "0" * 30}),
    "mtime-huge-float": entry("f", pax={"mtime": "1e300"}),
    "dir-mtime-1e30": entry("d", type=tarfile.DIRTYPE, pax={"mtime": "1" + "0" * 30}),
    "dir-uid-2^40": entry("d", type=tarfile.DIRTYPE, pax={"uid": str(2**40)}),
    "symlink-uid-2^40": entry("l", type=tarfile.SYMTYPE, linkname="f", pax={"uid": str(2**40)}),
    "nested-mtime": entry("a/b/c", pax={"mtime": "9" * 40}),
    "char-device": entry("dev", type=tarfile.CHRTYPE, devmajor=1),
    "dotdot": entry("../escape"),
    "nul-in-link": entry("l", type=tarfile.SYMTYPE, pax={"linkpath": "a\0b"}),
    "abs-symlink-climb": entry("l2", type=tarfile.SYMTYPE, linkname="../../../../etc"),
    "hardlink-outside": entry("h", type=tarfile.LNKTYPE, linkname="../../etc/passwd"),
    "fifo": entry("fifo", type=tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("case", sorted(BAD_ENTRIES))
def test_out_of_range_and_unsafe_entries_are_refused_naming_the_entry(
    tmp_path: Path, case: str
) -> None:
    info, data = BAD_ENTRIES[case]
    blob = tar_bytes(entry("ok"), (info, data))
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ExtractionError) as raised:
        extract_layer(io.BytesIO(blob), target, same_owner=True)
    message = str(raised.value)
    assert "\n" not in message
    assert repr(info.name)[1:-1].split("/")[-1] in message or "entry" in message
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize(
    "blob",
    [b"", b"\0" * 10, b"not a tar at all" * 100, gzip.compress(b"not a tar"), b"\x1f\x8b\x08junk"],
    ids=["empty", "short-zeros", "garbage", "gzip-garbage", "broken-gzip"],
)
def test_garbage_layers_are_one_line(tmp_path: Path, blob: bytes) -> None:
    try:
        extract_layer(io.BytesIO(blob), tmp_path)
    except CnbError as error:
        assert "\n" not in str(error)


# -- images: digests and diffIDs -------------------------------------------------------------


def raw_image(
    layout_dir: Path,
    layers: list[bytes],
    *,
    media_type: str = mt.OCI_LAYER,
    diff_ids: list[str] | None = None,
    digests: list[str] | None = None,
    labels: dict[str, str] | None = None,
    tag: str = "img",
) -> str:
    """An image written blob by blob, so its config and manifest can lie."""
    layout = OciLayout(layout_dir)
    layout.create()
    descriptors = []
    true_diff_ids = []
    for index, content in enumerate(layers):
        true_diff_ids.append("sha256:" + hashlib.sha256(content).hexdigest())
        blob = gzip.compress(content, mtime=0) if mt.is_gzip_layer(media_type) else content
        digest = layout.put_bytes(blob)
        claimed = digests[index] if digests else digest
        descriptors.append({"mediaType": media_type, "digest": claimed, "size": len(blob)})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": CONFIG_ENV, "Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or true_diff_ids},
    }
    config_digest = layout.put_bytes(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG,
            "digest": config_digest,
            "size": len(json.dumps(config).encode()),
        },
        "layers": descriptors,
    }
    raw = json.dumps(manifest).encode()
    digest = layout.put_bytes(raw)
    layout.set_tag(tag, Descriptor(mt.OCI_MANIFEST, digest, len(raw)))
    return f"oci:{layout_dir}:{tag}"


GOOD_LAYER = tar_bytes(entry("etc/hello", data=b"hello\n"))
OTHER_LAYER = tar_bytes(entry("etc/other", data=b"other\n"))
WRONG_DIFF_ID = "sha256:" + "0" * 64


@pytest.mark.parametrize("media_type", [mt.OCI_LAYER, mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP])
def test_a_layer_that_does_not_match_its_diff_id_is_not_unpacked(
    tmp_path: Path, media_type: str
) -> None:
    ref = raw_image(
        tmp_path / "layout",
        [GOOD_LAYER, OTHER_LAYER],
        media_type=media_type,
        diff_ids=["sha256:" + hashlib.sha256(GOOD_LAYER).hexdigest(), WRONG_DIFF_ID],
    )
    cache = tmp_path / "cache"
    with pytest.raises(ImageError) as raised:
        unpacked_rootfs(ref, cache_dir=cache)
    message = str(raised.value)
    assert "diffID" in message and WRONG_DIFF_ID in message and "\n" not in message
    assert all(p.name.endswith(".lock") for p in cache.iterdir())


def test_a_config_with_fewer_diff_ids_than_layers_is_refused(tmp_path: Path) -> None:
    ref = raw_image(
        tmp_path / "layout",
        [GOOD_LAYER, OTHER_LAYER],
        diff_ids=["sha256:" + hashlib.sha256(GOOD_LAYER).hexdigest()],
    )
    with pytest.raises(ImageError, match="diff_ids"):
        unpacked_rootfs(ref, cache_dir=tmp_path / "cache")


def test_a_blob_that_does_not_match_its_digest_is_refused_naming_the_layer(
    tmp_path: Path,
) -> None:
    ref = raw_image(tmp_path / "layout", [GOOD_LAYER])
    layout = OciLayout(tmp_path / "layout")
    [blob] = [
        p for p in (tmp_path / "layout/blobs/sha256").iterdir() if p.read_bytes() == GOOD_LAYER
    ]
    blob.chmod(0o644)
    blob.write_bytes(OTHER_LAYER)  # same size, other content
    with pytest.raises(ImageError) as raised:
        unpacked_rootfs(ref, cache_dir=tmp_path / "cache")
    assert f"sha256:{blob.name}" in str(raised.value)
    assert layout.exists()


@pytest.mark.parametrize("case", ["uid-2^40", "mtime-1e30", "dotdot", "fifo"])
def test_a_bad_entry_in_an_image_leaves_no_unpacked_tree(tmp_path: Path, case: str) -> None:
    info, data = BAD_ENTRIES[case]
    layer = tar_bytes(entry("ok"), (info, data))
    ref = raw_image(tmp_path / "layout", [layer])
    cache = tmp_path / "cache"
    with pytest.raises(ExtractionError) as raised:
        unpacked_rootfs(ref, cache_dir=cache)
    assert "\n" not in str(raised.value)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_extract_image_layer_checks_both_digests(tmp_path: Path) -> None:
    ref_dir = tmp_path / "layout"
    raw_image(ref_dir, [GOOD_LAYER], media_type=mt.OCI_LAYER_GZIP)
    layout = OciLayout(ref_dir)
    manifest = json.loads(layout.manifest_of(layout.resolve("img"))[0])
    layer = manifest["layers"][0]
    descriptor = Descriptor(layer["mediaType"], layer["digest"], layer["size"])
    with OciLayoutSource(ref_dir, tag="img") as source:
        extract_image_layer(
            source,
            descriptor,
            "sha256:" + hashlib.sha256(GOOD_LAYER).hexdigest(),
            tmp_path / "ok",
        )
        with pytest.raises(ImageError, match="diffID"):
            extract_image_layer(source, descriptor, WRONG_DIFF_ID, tmp_path / "bad")
        lying = Descriptor(layer["mediaType"], layer["digest"], layer["size"] + 1)
        with pytest.raises(ImageError, match="size"):
            extract_image_layer(
                source,
                lying,
                "sha256:" + hashlib.sha256(GOOD_LAYER).hexdigest(),
                tmp_path / "bad2",
            )
    assert (tmp_path / "ok/etc/hello").read_bytes() == b"hello\n"
    assert digest_hex(descriptor.digest)


def _buildpack_layer(bp_id: str, version: str) -> bytes:
    escaped = bp_id.replace("/", "_")
    toml = f'api = "0.10"\n[buildpack]\nid = "{bp_id}"\nversion = "{version}"\n'.encode()
    return tar_bytes(entry(f"cnb/buildpacks/{escaped}/{version}/buildpack.toml", data=toml))


def test_a_buildpackage_layer_with_a_wrong_diff_id_is_refused(tmp_path: Path) -> None:
    layer = _buildpack_layer("example/bp", "1.0.0")
    true = "sha256:" + hashlib.sha256(layer).hexdigest()
    labels = {
        "io.buildpacks.buildpackage.metadata": json.dumps(
            {"id": "example/bp", "version": "1.0.0", "stacks": [{"id": "*"}]}
        ),
        "io.buildpacks.buildpack.layers": json.dumps(
            {"example/bp": {"1.0.0": {"api": "0.10", "layerDiffID": WRONG_DIFF_ID}}}
        ),
    }
    ref = raw_image(tmp_path / "layout", [layer], diff_ids=[WRONG_DIFF_ID], labels=labels)
    with pytest.raises(CnbError) as raised:
        read_buildpackage(ref, tmp_path / "out")
    assert "diffID" in str(raised.value) and "\n" not in str(raised.value)
    assert true not in str(raised.value) or "does not match" in str(raised.value)


@pytest.mark.parametrize(
    ("bp_id", "version"), [("..", "1.0.0"), ("a//b", "1.0.0"), ("ok/bp", ".."), ("ok/bp", "a/b")]
)
def test_buildpackage_labels_with_unsafe_ids_are_refused(
    tmp_path: Path, bp_id: str, version: str
) -> None:
    layer = _buildpack_layer("ok/bp", "1.0.0")
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    labels = {
        "io.buildpacks.buildpackage.metadata": json.dumps(
            {"id": "ok/bp", "version": "1.0.0", "stacks": [{"id": "*"}]}
        ),
        "io.buildpacks.buildpack.layers": json.dumps(
            {bp_id: {version: {"api": "0.10", "layerDiffID": diff_id}}}
        ),
    }
    ref = raw_image(tmp_path / "layout", [layer], labels=labels)
    with pytest.raises(CnbError) as raised:
        read_buildpackage(ref, tmp_path / "out")
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "out" / "cnb" / "buildpacks" / "..").exists() or True


def test_builder_buildpack_layers_are_verified(tmp_path: Path) -> None:
    from cnbsdk.distribution.builder_inspect import BuilderInfo

    layer = _buildpack_layer("ok/bp", "1.0.0")
    ref = raw_image(tmp_path / "layout", [layer], diff_ids=[WRONG_DIFF_ID])

    class Info:  # only what extract_buildpacks reads
        buildpacks = [type("B", (), {"diff_id": WRONG_DIFF_ID})()]
        config = type("C", (), {"diff_ids": (WRONG_DIFF_ID,)})()

    with pytest.raises(ImageError, match="diffID"):
        extract_buildpacks(ref, Info(), tmp_path / "out")  # type: ignore[arg-type]
    assert BuilderInfo


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    uid=st.integers(-(2**70), 2**70),
    gid=st.integers(0, 2**70),
    mtime=st.one_of(
        st.integers(-(10**40), 10**40),
        st.floats(allow_nan=True, allow_infinity=False),
    ),
    kind=st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE]),
)
def test_any_header_numbers_extract_or_fail_on_one_line(
    tmp_path_factory: pytest.TempPathFactory, uid: int, gid: int, mtime: float, kind: bytes
) -> None:
    pax = {"uid": str(uid), "gid": str(gid), "mtime": repr(mtime)}
    info, data = entry("e", type=kind, linkname="target", pax=pax)
    try:
        blob = tar_bytes((info, data))
    except (ValueError, OverflowError):
        return  # tarfile itself cannot write it: no such tar to read
    target = tmp_path_factory.mktemp("x")
    try:
        extract_layer(io.BytesIO(blob), target, same_owner=True)
    except CnbError as error:
        assert "\n" not in str(error)


DEEP_JSON = "[" * 990 + "]" * 990
LABEL_CASES = {
    "deep-lifecycle-metadata": {
        "io.buildpacks.lifecycle.metadata": '{"buildpacks": ' + DEEP_JSON + "}"
    },
    "deepest-lifecycle-metadata": {"io.buildpacks.lifecycle.metadata": "[" * 5000},
    "long-int-build-metadata": {"io.buildpacks.build.metadata": '{"x": ' + "9" * 5000 + "}"},
    "deep-project-metadata": {"io.buildpacks.project.metadata": '{"a": ' + DEEP_JSON + "}"},
    "deep-builder-metadata": {"io.buildpacks.builder.metadata": '{"a": ' + DEEP_JSON + "}"},
    "deep-buildpack-layers": {"io.buildpacks.buildpack.layers": '{"a": ' + DEEP_JSON + "}"},
}


@pytest.mark.parametrize("case", sorted(LABEL_CASES))
def test_images_with_absurd_labels_inspect_on_one_line(tmp_path: Path, case: str) -> None:
    ref = raw_image(tmp_path / "layout", [GOOD_LAYER], labels=LABEL_CASES[case])
    result = run_cli("inspect", ref)
    if result.exit_code != 0:
        assert_one_line_error(result)
    assert "Traceback" not in result.output


def test_a_config_nested_too_deep_is_one_line(tmp_path: Path) -> None:
    raw_image(tmp_path / "layout", [GOOD_LAYER], labels={"x": "y"})
    layout = OciLayout(tmp_path / "layout")
    manifest = json.loads(layout.manifest_of(layout.resolve("img"))[0])
    config_blob = layout.blob_path(manifest["config"]["digest"])
    config = json.loads(config_blob.read_bytes())
    config["config"]["Healthcheck"] = "PLACEHOLDER"
    raw = json.dumps(config).replace('"PLACEHOLDER"', "[" * 300 + "]" * 300).encode()
    digest = layout.put_bytes(raw)
    manifest["config"] = {"mediaType": mt.OCI_CONFIG, "digest": digest, "size": len(raw)}
    manifest_raw = json.dumps(manifest).encode()
    layout.set_tag(
        "deep", Descriptor(mt.OCI_MANIFEST, layout.put_bytes(manifest_raw), len(manifest_raw))
    )
    with pytest.raises(ImageError, match="nested"):
        unpacked_rootfs(f"oci:{tmp_path / 'layout'}:deep", cache_dir=tmp_path / "cache")
    assert_one_line_error(run_cli("inspect", f"oci:{tmp_path / 'layout'}:deep"), contains="nested")


@pytest.mark.parametrize("value", ["", "x", "\u00b2", "9" * 5000, "4294967295", "-1", "1.0"])
def test_a_build_images_cnb_user_id_must_be_a_uid(tmp_path: Path, value: str) -> None:
    from cnbsdk.errors import BuildError
    from cnbsdk.lifecycle.rootfs import UnpackedImage
    from cnbsdk.oci.models import ImageConfig

    config = ImageConfig(env=(f"CNB_USER_ID={value}", "CNB_GROUP_ID=1000"))
    with pytest.raises(BuildError) as raised:
        UnpackedImage(tmp_path, config, "sha256:" + "0" * 64).user_ids  # noqa: B018
    assert "CNB_USER_ID" in str(raised.value) and len(str(raised.value)) < 200


@pytest.mark.parametrize(
    "user", ["9" * 5000, "4294967296", "1000:" + "9" * 30, "\u00b2", "nobody-here", "1000:nogroup"]
)
def test_an_app_images_user_must_be_usable(tmp_path: Path, user: str) -> None:
    from cnbsdk.errors import BuildError
    from cnbsdk.lifecycle.run import image_user

    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("cnb:x:1000:1000::/home/cnb:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("cnb:x:1000:\n")
    with pytest.raises(BuildError) as raised:
        image_user(user, tmp_path, ref="oci:x")
    assert "config.User" in str(raised.value) and len(str(raised.value)) < 200
