"""The OS SBOM: every package of the image, valid CycloneDX 1.5, readable from one layer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import StackImages, cnbsdk
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from cnbsdk.stacks.sbom import SBOM_LABEL


def _status_d(rootfs: Path) -> dict[str, str]:
    """Package -> Version from the unpacked image's /var/lib/dpkg/status.d records."""
    packages = {}
    for record in (rootfs / "var/lib/dpkg/status.d").iterdir():
        fields = dict(
            line.split(": ", 1) for line in record.read_text().splitlines() if ": " in line
        )
        packages[fields["Package"]] = fields["Version"]
    return packages


def _sbom(ref: str) -> dict:
    result = cnbsdk("stack", "sbom", ref)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_sbom_lists_every_package_in_the_run_image(
    stack_images: StackImages, run_rootfs: Path
) -> None:
    document = _sbom(stack_images.ref("run"))
    listed = {c["name"]: c["version"] for c in document["components"]}
    assert listed == _status_d(run_rootfs)
    assert set(listed) == {p.name for p in stack_images.image("run").packages}
    libc = next(c for c in document["components"] if c["name"] == "libc6")
    version = libc["version"].replace("+", "%2B")
    assert libc["purl"] == f"pkg:deb/debian/libc6@{version}?arch=amd64&distro=debian-12"
    assert (run_rootfs / "cnb/sbom/os.cdx.json").read_bytes() == json.dumps(
        document, indent=2, sort_keys=True
    ).encode() + b"\n"


def test_sbom_of_both_images_validates_as_cyclonedx_1_5(stack_images: StackImages) -> None:
    validator = JsonStrictValidator(SchemaVersion.V1_5)
    for kind in ("run", "build"):
        text = cnbsdk("stack", "sbom", stack_images.ref(kind)).stdout
        error = validator.validate_str(text)
        assert error is None, f"{kind}: {str(error)[:300]}"
    build = _sbom(stack_images.ref("build"))
    assert {"gcc-12", "python3.11-minimal", "git"} <= {c["name"] for c in build["components"]}


def test_sbom_reads_only_the_labelled_layer(stack_images: StackImages, tmp_path: Path) -> None:
    """A copy of the layout holding the manifest, the config and the SBOM layer alone."""
    layout = stack_images.layout
    image = stack_images.image("run")
    copy = tmp_path / "partial"
    (copy / "blobs/sha256").mkdir(parents=True)
    for name in ("oci-layout", "index.json"):
        shutil.copy(layout / name, copy / name)
    manifest = json.loads((layout / "blobs/sha256" / image.digest[7:]).read_text())
    config_digest = manifest["config"]["digest"]
    config = json.loads((layout / "blobs/sha256" / config_digest[7:]).read_text())
    label = json.loads(config["config"]["Labels"][SBOM_LABEL])
    assert label["path"] == "/cnb/sbom/os.cdx.json"
    index = config["rootfs"]["diff_ids"].index(label["diffID"])
    sbom_layer = manifest["layers"][index]["digest"]
    for digest in (image.digest, config_digest, sbom_layer):
        shutil.copy(layout / "blobs/sha256" / digest[7:], copy / "blobs/sha256" / digest[7:])

    document = _sbom(f"oci:{copy}:run")
    assert len(document["components"]) == len(image.packages)


def test_sbom_of_an_image_without_the_label_is_a_one_line_error(
    stack_images: StackImages, tmp_path: Path
) -> None:
    from cnbsdk.oci.image_writer import write_image
    from cnbsdk.oci.models import ImageConfig
    from cnbsdk.oci.open import open_destination

    dest = open_destination(f"oci:{tmp_path}/plain:latest")
    try:
        write_image(dest, ImageConfig(), [])
    finally:
        dest.close()
    result = cnbsdk("stack", "sbom", f"oci:{tmp_path}/plain:latest")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and SBOM_LABEL in result.stderr
