"""Restore (cnbsdk.lifecycle.restore): the layer-restoration table of cnb-spec-digest §3.4,
one test per row, with hand-made previous-image labels and a real volume cache whose tars
are written by cnbsdk.oci.layer_tar."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnbsdk.lifecycle.cache import COMMITTED, VolumeCache
from cnbsdk.lifecycle.order import GroupElement
from cnbsdk.lifecycle.restore import APP_IMAGE, CACHE, RestoreReport, restore
from cnbsdk.oci.layer_tar import ParentDir
from cnbsdk.spec.ids import BuildpackId, BuildpackVersion
from cnbsdk.spec.labels import (
    BuildpackLayersMetadata,
    CacheMetadata,
    LayerMetadata,
    LifecycleMetadata,
)
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.store_toml import StoreToml

BP = "example/layers"
ESCAPED = "example_layers"
UID, GID = 1234, 1000
GROUP = (GroupElement(BuildpackId(BP), BuildpackVersion("1.0.0")),)


def layer(
    sha: str = "", *, launch: bool = False, build: bool = False, cache: bool = False, **data: object
) -> LayerMetadata:
    return LayerMetadata(sha=sha, data=dict(data), build=build, launch=launch, cache=cache)


def image_label(layers: dict[str, LayerMetadata], store: dict | None = None) -> LifecycleMetadata:
    return LifecycleMetadata(
        buildpacks=(BuildpackLayersMetadata(BP, "1.0.0", layers, store),),
    )


class Env:
    """A workspace layers dir, a cache dir and the log lines of one restore."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.layers = root / "layers"
        self.layers.mkdir()
        self.cache_dir = root / "cache"
        self.lines: list[str] = []

    def cache_layer(self, writer, name: str, files: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
        """Tar a layer of ``files`` as /layers/<bp>/<name> into the cache being written."""
        source = self.root / "build" / ESCAPED / name
        for path, content in files.items():
            (source / path).parent.mkdir(parents=True, exist_ok=True)
            (source / path).write_text(content)
        return writer.add_layer(
            source,
            prefix=f"/layers/{ESCAPED}/{name}",
            uid=UID,
            gid=GID,
            parents=(ParentDir("/layers"), ParentDir(f"/layers/{ESCAPED}", uid=UID, gid=GID)),
        )

    def fill_cache(
        self,
        layers: dict[str, tuple[LayerMetadata, dict[str, str]]],
        sboms: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """Commit a cache holding ``layers`` (flags, files); returns name -> sha."""
        shas: dict[str, str] = {}
        with VolumeCache(self.cache_dir) as cache:
            writer = cache.begin()
            entries = {}
            for name, (meta, files) in layers.items():
                shas[name] = self.cache_layer(writer, name, files)
                entries[name] = LayerMetadata(
                    shas[name], meta.data, meta.build, meta.launch, meta.cache
                )
            sbom_sha = None
            if sboms:
                tree = self.root / "build" / "sbom-cache"
                for path, content in sboms.items():
                    (tree / path).parent.mkdir(parents=True, exist_ok=True)
                    (tree / path).write_text(content)
                sbom_sha = writer.add_layer(tree, prefix="/layers/sbom/cache", uid=UID, gid=GID)
            writer.commit(
                CacheMetadata(
                    sbom=sbom_sha,
                    buildpacks=(BuildpackLayersMetadata(BP, "1.0.0", entries),),
                )
            )
        return shas

    def restore(
        self, previous: LifecycleMetadata | None, *, with_cache: bool = True
    ) -> RestoreReport:
        if not with_cache:
            return restore(
                GROUP, self.layers, previous=previous, cache=None, uid=UID, gid=GID, log=self.log
            )
        with VolumeCache(self.cache_dir, warn=self.log) as cache:
            return restore(
                GROUP, self.layers, previous=previous, cache=cache, uid=UID, gid=GID, log=self.log
            )

    def log(self, line: str) -> None:
        self.lines.append(line)

    @property
    def bp_dir(self) -> Path:
        return self.layers / ESCAPED

    def toml(self, name: str) -> LayerContentMetadata:
        return LayerContentMetadata.read(self.bp_dir / f"{name}.toml")

    def listing(self) -> list[str]:
        """Every path under <layers>, relative, sorted."""
        return sorted(str(p.relative_to(self.layers)) for p in self.layers.rglob("*"))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


# -- one test per row of the table --------------------------------------------------------


def test_launch_only_layer_gets_its_metadata_from_the_image_but_no_contents(env: Env):
    label = image_label({"web": layer("sha256:" + "a" * 64, launch=True, version="3.2")})
    report = env.restore(label)

    assert env.listing() == [ESCAPED, f"{ESCAPED}/web.toml"]  # no dir: export reuses it
    assert env.toml("web") == LayerContentMetadata(types=None, metadata={"version": "3.2"})
    assert env.lines == [f'Restoring metadata for "{BP}:web" from app image']
    assert report.metadata == {f"{BP}:web": APP_IMAGE} and report.data == ()


def test_launch_and_build_layer_without_cache_is_not_restored(env: Env):
    label = image_label({"tools": layer("sha256:" + "b" * 64, launch=True, build=True)})
    report = env.restore(label)

    assert env.listing() == []
    assert env.lines == [
        f'Not restoring metadata for "{BP}:tools", marked as build=true, cache=false'
    ]
    assert [s.reason for s in report.skipped] == ["build=true, cache=false"]


def test_build_only_layer_is_never_restored(env: Env):
    # A build-only layer is in no label; one that shows up in the cache metadata without
    # cache=true (a tampered or foreign cache) is still not restored.
    env.fill_cache({"scratch": (layer(build=True), {"f": "x"})})
    report = env.restore(None)

    assert env.listing() == []
    assert report.metadata == {} and report.data == ()
    assert env.lines == [f'Not restoring "{BP}:scratch" from cache, marked as cache=false']


def test_cache_only_layer_gets_metadata_and_contents_from_the_cache(env: Env):
    env.fill_cache({"deps": (layer(cache=True, lock="abc"), {"lib/a.txt": "A", "b.txt": "B"})})
    report = env.restore(None)

    assert env.toml("deps") == LayerContentMetadata(types=None, metadata={"lock": "abc"})
    assert (env.bp_dir / "deps" / "lib" / "a.txt").read_text() == "A"
    assert (env.bp_dir / "deps" / "b.txt").read_text() == "B"
    assert env.lines == [
        f'Restoring metadata for "{BP}:deps" from cache',
        f'Restoring data for "{BP}:deps" from cache',
    ]
    assert report.metadata == {f"{BP}:deps": CACHE} and report.data == (f"{BP}:deps",)
    # the contents keep the CNB owner, so the buildpack (running as it) can change them
    assert (env.bp_dir / "deps" / "b.txt").stat().st_uid == UID
    assert (env.bp_dir / "deps.toml").stat().st_uid == UID


def test_build_and_cache_layer_is_restored_from_the_cache(env: Env):
    env.fill_cache({"gems": (layer(build=True, cache=True, n=1), {"bin/rake": "#!/bin/sh"})})
    report = env.restore(None)

    assert env.toml("gems").metadata == {"n": 1}
    assert (env.bp_dir / "gems" / "bin" / "rake").read_text() == "#!/bin/sh"
    assert report.data == (f"{BP}:gems",)


def test_launch_and_cache_layer_gets_image_metadata_and_cached_contents(env: Env):
    shas = env.fill_cache({"ruby": (layer(launch=True, cache=True, v="old"), {"bin/ruby": "r"})})
    label = image_label({"ruby": layer(shas["ruby"], launch=True, cache=True, v="3.2")})
    report = env.restore(label)

    # the metadata is the image's, the contents the cache's (their shas agree)
    assert env.toml("ruby").metadata == {"v": "3.2"}
    assert (env.bp_dir / "ruby" / "bin" / "ruby").read_text() == "r"
    assert env.lines == [
        f'Restoring metadata for "{BP}:ruby" from app image',
        f'Restoring data for "{BP}:ruby" from cache',
    ]
    assert report.metadata == {f"{BP}:ruby": APP_IMAGE}


def test_launch_and_cache_layer_whose_shas_disagree_is_dropped(env: Env):
    env.fill_cache({"ruby": (layer(launch=True, cache=True), {"bin/ruby": "stale"})})
    label = image_label({"ruby": layer("sha256:" + "c" * 64, launch=True, cache=True)})
    report = env.restore(label)

    assert env.listing() == []  # neither stale contents nor metadata promising them
    assert env.lines == [f'Removing "{BP}:ruby", wrong sha']
    assert [s.reason for s in report.skipped] == ["wrong sha"]


def test_launch_and_cache_layer_missing_from_the_cache_is_dropped(env: Env):
    env.fill_cache({})
    label = image_label({"ruby": layer("sha256:" + "c" * 64, launch=True, cache=True)})
    env.restore(label)

    assert env.listing() == []
    assert env.lines == [f'Removing "{BP}:ruby", not in cache']


def test_launch_and_cache_layer_without_a_previous_image_comes_from_the_cache(env: Env):
    env.fill_cache({"ruby": (layer(launch=True, cache=True, v="3.1"), {"bin/ruby": "r"})})
    report = env.restore(None)

    assert env.toml("ruby").metadata == {"v": "3.1"}
    assert (env.bp_dir / "ruby" / "bin" / "ruby").is_file()
    assert report.metadata == {f"{BP}:ruby": CACHE}


def test_layer_with_no_flags_is_not_restored(env: Env):
    label = image_label({"nothing": layer("sha256:" + "d" * 64)})
    env.restore(label, with_cache=False)

    assert env.listing() == []
    assert env.lines == [f'Not restoring metadata for "{BP}:nothing", marked as launch=false']


# -- the rules around the table -----------------------------------------------------------


def test_restored_tomls_never_contain_types(env: Env):
    shas = env.fill_cache(
        {
            "cached": (layer(cache=True, build=True, k=1), {"f": "x"}),
            "both": (layer(launch=True, cache=True, k=2), {"f": "y"}),
        }
    )
    label = image_label(
        {
            "both": layer(shas["both"], launch=True, cache=True, build=True, k=2),
            "web": layer("sha256:" + "e" * 64, launch=True, k=3),
        }
    )
    env.restore(label)

    tomls = sorted(env.bp_dir.glob("*.toml"))
    assert [p.name for p in tomls] == ["both.toml", "cached.toml", "web.toml"]
    for path in tomls:
        assert "types" not in path.read_text()
        parsed = LayerContentMetadata.read(path)
        assert parsed.types is None and parsed.effective_types.ignored


def test_store_toml_round_trips_from_the_image_label(env: Env):
    store = {"metadata": {"count": 3, "nested": {"list": ["a", "b"], "flag": True}}}
    env.restore(image_label({}, store=store), with_cache=False)

    assert StoreToml.read(env.bp_dir / "store.toml").metadata == store["metadata"]
    assert (env.bp_dir / "store.toml").stat().st_uid == UID


def test_no_store_in_the_label_writes_no_store_toml(env: Env):
    env.restore(image_label({"web": layer("sha256:" + "a" * 64, launch=True)}), with_cache=False)
    assert not (env.bp_dir / "store.toml").exists()


def test_a_corrupted_cache_tar_is_skipped_and_the_rest_restored(env: Env):
    shas = env.fill_cache(
        {
            "broken": (layer(cache=True), {"f": "will be damaged"}),
            "good": (layer(cache=True), {"f": "fine"}),
        }
    )
    tar = env.cache_dir / COMMITTED / f"{shas['broken']}.tar"
    data = bytearray(tar.read_bytes())
    data[-1100] ^= 0x01
    tar.write_bytes(bytes(data))

    report = env.restore(None)

    # a warning, and no "Restoring metadata" line for the layer that is not there
    assert env.lines == [
        f"Warning: Skipping corrupted cache layer {BP}:broken (sha mismatch)",
        f'Restoring metadata for "{BP}:good" from cache',
        f'Restoring data for "{BP}:good" from cache',
    ]
    assert env.listing() == [
        ESCAPED,
        f"{ESCAPED}/good",
        f"{ESCAPED}/good.toml",
        f"{ESCAPED}/good/f",
    ]
    assert report.data == (f"{BP}:good",)
    assert f"{BP}:broken" not in report.metadata


def test_a_cached_tar_is_read_once_hashed_while_it_is_extracted(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.fill_cache({"deps": (layer(cache=True), {"f": "x" * 100_000})})
    from cnbsdk.lifecycle import cache as cache_module

    cache_module._VERIFIED.clear()
    hashed_apart: list[Path] = []
    real = cache_module.file_sha256
    monkeypatch.setattr(
        cache_module, "file_sha256", lambda path: hashed_apart.append(path) or real(path)
    )
    report = env.restore(None)
    assert report.data == (f"{BP}:deps",)
    assert hashed_apart == []  # no separate pass over the tar before extracting it


def test_a_cached_tar_without_the_layer_is_a_warning_and_no_metadata_is_left(env: Env):
    with VolumeCache(env.cache_dir) as cache:
        writer = cache.begin()
        tree = env.root / "build" / "elsewhere"
        tree.mkdir(parents=True)
        (tree / "f").write_text("x")
        sha = writer.add_layer(tree, prefix=f"/layers/{ESCAPED}/elsewhere", uid=UID, gid=GID)
        entry = layer(sha, launch=True, cache=True, v="1")
        writer.commit(
            CacheMetadata(buildpacks=(BuildpackLayersMetadata(BP, "1.0.0", {"deps": entry}),))
        )
    report = env.restore(image_label({"deps": entry}))

    assert env.lines == [
        f"Warning: Skipping cache layer {BP}:deps: the cached tar holds no {ESCAPED}/deps"
    ]
    assert env.listing() == [ESCAPED]  # the toml written from the label was taken back
    assert [s.reason for s in report.skipped] == ["unreadable in cache"]
    assert report.metadata == {}


def test_layer_sboms_come_back_from_the_cache_but_launch_and_build_sboms_never(env: Env):
    env.fill_cache(
        {"deps": (layer(cache=True), {"f": "x"})},
        sboms={
            f"{ESCAPED}/deps/sbom.cdx.json": '{"bomFormat": "CycloneDX"}',
            f"{ESCAPED}/deps/sbom.syft.json": "{}",
            f"{ESCAPED}/gone/sbom.cdx.json": "{}",  # a layer that is not restored
            f"{ESCAPED}/sbom.cdx.json": "{}",  # buildpack-level: never restored
        },
    )
    report = env.restore(None)

    assert sorted(report.sboms) == [
        f"{ESCAPED}/deps.sbom.cdx.json",
        f"{ESCAPED}/deps.sbom.syft.json",
    ]
    assert (env.bp_dir / "deps.sbom.cdx.json").read_text() == '{"bomFormat": "CycloneDX"}'
    assert not list(env.bp_dir.glob("launch.sbom.*")) and not list(env.bp_dir.glob("build.sbom.*"))
    assert not (env.layers / "sbom").exists()
    assert not [p for p in env.layers.iterdir() if p.name.startswith(".restore")]


def test_a_layer_name_from_a_label_cannot_escape_the_layers_dir(env: Env):
    label = image_label({"../../evil": layer("sha256:" + "a" * 64, launch=True)})
    report = env.restore(label, with_cache=False)

    assert env.listing() == []
    assert not (env.root / "evil.toml").exists()
    assert [s.reason for s in report.skipped] == ["invalid layer name"]
    assert env.lines == [
        f"Warning: Not restoring \"{BP}:../../evil\": '../../evil' is not a valid layer name"
    ]


def test_buildpacks_outside_the_group_are_left_alone(env: Env):
    label = LifecycleMetadata(
        buildpacks=(
            BuildpackLayersMetadata(
                "other/bp",
                "1.0.0",
                {"web": layer("sha256:" + "a" * 64, launch=True)},
                {"metadata": {"a": 1}},
            ),
        )
    )
    report = env.restore(label, with_cache=False)
    assert env.listing() == [] and report.metadata == {} and report.stores == ()


def test_restored_files_belong_to_the_build_user_not_the_tar_owner(env: Env):
    env.fill_cache({"deps": (layer(cache=True), {"sub/f": "x"})})  # tarred as UID:GID
    with VolumeCache(env.cache_dir) as cache:
        restore(GROUP, env.layers, previous=None, cache=cache, uid=2000, gid=2001, log=env.log)
    for path in [env.bp_dir, *env.bp_dir.rglob("*")]:
        assert (path.stat().st_uid, path.stat().st_gid) == (2000, 2001), path
