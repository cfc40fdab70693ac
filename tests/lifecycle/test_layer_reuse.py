"""Export's reuse and compression policy on its own: a previous image described by its
manifest and config alone, no layer tarred and no image written."""

from __future__ import annotations

from cnbsdk.lifecycle.analyze import PreviousImage
from cnbsdk.lifecycle.layer_reuse import ReusePolicy, Source
from cnbsdk.oci import media_types as mt
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.models import ImageConfig, Manifest

OLD = "sha256:" + "1" * 64  # a layer of the previous image
GONE = "sha256:" + "2" * 64  # recorded in its label, but not among its layers
NEW = "sha256:" + "3" * 64
BLOB = Descriptor(mt.DOCKER_LAYER_GZIP, "sha256:" + "4" * 64, 10)


def previous() -> PreviousImage:
    manifest = Manifest(config=Descriptor(mt.OCI_CONFIG, "sha256:" + "5" * 64, 2), layers=(BLOB,))
    config = ImageConfig(diff_ids=(OLD,))
    return PreviousImage("app", manifest, config, None, "oci:/nowhere:app")


def test_an_unchanged_layer_is_the_previous_images_blob_in_oci_terms() -> None:
    policy = ReusePolicy(previous(), compress=True)
    assert policy.launch_layer_source(OLD, OLD, cache=True) is Source.PREVIOUS_IMAGE
    blob = policy.previous_blob(OLD)
    assert blob is not None and blob.digest == BLOB.digest
    assert blob.media_type == mt.OCI_LAYER_GZIP
    assert policy.reuses(OLD, OLD) and not policy.reuses(NEW, OLD)


def test_a_layer_the_previous_image_lacks_comes_from_the_cache_or_a_new_tar() -> None:
    policy = ReusePolicy(previous(), compress=True)
    assert policy.launch_layer_source(GONE, GONE, cache=True) is Source.CACHE
    assert policy.launch_layer_source(GONE, GONE, cache=False) is Source.TAR
    assert policy.launch_layer_source(None, OLD, cache=True) is Source.TAR  # changed
    assert not policy.reuses(GONE, GONE)


def test_gzip_while_tarring_only_when_nothing_could_be_reused() -> None:
    policy = ReusePolicy(previous(), compress=True)
    assert not policy.gzip_while_tarring(OLD)  # tar plain: it may turn out unchanged
    assert policy.gzip_while_tarring(GONE) and policy.gzip_while_tarring(None)
    assert not policy.gzip_launch_tar(None, GONE, cache=True)  # the cache keeps plain tars
    assert policy.gzip_launch_tar(None, GONE, cache=False)
    assert not policy.gzip_app_while_tarring([OLD]) and policy.gzip_app_while_tarring([GONE])
    plain = ReusePolicy(previous(), compress=False)
    assert not plain.gzip_while_tarring(None) and not plain.gzip_app_while_tarring([])


def test_a_first_build_reuses_nothing() -> None:
    policy = ReusePolicy(None, compress=False)
    assert policy.previous_blob(OLD) is None
    assert policy.launch_layer_source(OLD, OLD, cache=False) is Source.TAR
