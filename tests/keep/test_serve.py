"""What one tick of ``cnbsdk serve`` looks at: with polling, every image; with ``--no-poll``,
only new, patched and triggered images (no source or builder is resolved for the others).
A builder that cannot be read shows which images were looked at: each records the error."""

from __future__ import annotations

from pathlib import Path

from cnbsdk.keep.model import LOCAL, SUCCESS, BuildResult, ImageSpec, Inputs, Source
from cnbsdk.keep.serve import Service
from cnbsdk.keep.store import Store


def image(name: str, source: Path) -> ImageSpec:
    return ImageSpec(name, f"{name}:latest", Source(LOCAL, str(source)), builder="nosuch/b:1")


def built(store: Store, spec: ImageSpec) -> None:
    inputs = Inputs(spec.config(), LOCAL, "sha256:x", "nosuch/b:1", "", (), "run@sha256:r", "", "")
    record = store.queue_build(spec.name, kind="build", changes=(), priority=1, inputs=inputs)
    assert record is not None
    store.finish(record.id, status=SUCCESS, message="", result=BuildResult(), log=b"")


def looked_at(store: Store) -> set[str]:
    return {row["name"] for row in store.image_rows() if row["resolution_error"]}


def test_without_polling_only_new_patched_and_triggered_images_are_resolved(
    home: Path, tmp_path: Path
) -> None:
    with Store() as store:
        for name in ("new", "current", "patched", "triggered"):
            store.add_image(image(name, tmp_path))
        for name in ("current", "patched", "triggered"):
            built(store, store.image(name))
        store.update_image(store.image("patched").with_changes(env=(("A", "1"),)))
        store.request_trigger("triggered", "now")
        Service(store, poll=False, echo=lambda line: None).tick()
        assert looked_at(store) == {"new", "patched", "triggered"}
        row = store.image_row("new")
        assert "cannot read the builder nosuch/b:1" in row["resolution_error"]


def test_with_polling_every_image_is_resolved(home: Path, tmp_path: Path) -> None:
    with Store() as store:
        for name in ("new", "current"):
            store.add_image(image(name, tmp_path))
        built(store, store.image("current"))
        lines: list[str] = []
        Service(store, poll=True, echo=lines.append).tick()
        assert looked_at(store) == {"new", "current"}
        assert any(line.startswith("current: cannot resolve:") for line in lines)
