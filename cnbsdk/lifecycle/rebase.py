"""Rebase: put an app image on a new run image without rebuilding it (digest §4.8,
checklist rule 37; the reference is the lifecycle's ``phase/rebaser.go``).

The layers of the app image up to and including ``runImage.topLayer`` are the old run
image; they are replaced by every layer of the new one, and everything above stays as it
is: same diffIDs, same blobs, same digests. The config keeps all it had (env, entrypoint,
``created``...) except ``rootfs.diff_ids`` and ``history`` (rebuilt for the new base), the
``io.buildpacks.base.*`` / ``io.buildpacks.stack.*`` labels (taken from the new base) and
``runImage`` in ``io.buildpacks.lifecycle.metadata``.

Checks, each of which ``force`` turns into a warning: ``io.buildpacks.rebasable`` is not
``"false"``, os/architecture/variant and the distro agree, and the new run image is the
recorded one, one of its mirrors or — unlike pack, which compares tags — any tag or digest
of the same repository. A refused rebase writes nothing.

Only blobs the destination lacks move: in place on a registry the app layers are already
there (no request needed), the new base's layers are mounted from their repository when it
is on the same registry, and in the local store nothing but the new config and manifest is
written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from cnbsdk.errors import BuildError, CnbError, ImageError
from cnbsdk.oci.blobs import PARALLEL_UPLOADS, CopyReport, transfer_all, transfer_blob
from cnbsdk.oci.digest import Descriptor
from cnbsdk.oci.image_writer import write_manifest
from cnbsdk.oci.models import HistoryEntry, ImageConfig, Manifest, padded_history
from cnbsdk.oci.open import open_destination, open_image
from cnbsdk.oci.reference import DOCKER, DOCKER_ARCHIVE, OCI, STORE, ImageRef, parse_reference
from cnbsdk.oci.transport import ImageDestination, ImageSource
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.labels import (
    LIFECYCLE_METADATA_LABEL,
    REBASABLE_LABEL,
    LifecycleMetadata,
    RunImageMetadata,
)
from cnbsdk.stacks.sbom import SBOM_LABEL

Log = Callable[[str], None]

# Labels that describe the base and therefore come from the new run image (digest §4.8);
# cnbsdk stacks also point at their OS SBOM layer by diffID, which changes with the base.
SYNCED_LABEL_PREFIXES = ("io.buildpacks.base.", "io.buildpacks.stack.")
SYNCED_LABELS = frozenset({SBOM_LABEL})
DISTRO_NAME_LABEL = "io.buildpacks.base.distro.name"
DISTRO_VERSION_LABEL = "io.buildpacks.base.distro.version"
STACK_ID_LABEL = "io.buildpacks.stack.id"
MIXINS_LABEL = "io.buildpacks.stack.mixins"
# Before Platform 0.12 images were matched by stack id and mixins, not by target.
TARGET_CHECKS_SINCE = ApiVersion.parse("0.12")


class RebaseRefused(BuildError):
    """A check failed: the app image cannot go on that run image (``--force`` overrides)."""


@dataclass(frozen=True)
class RebaseReport:
    """What a rebase did: the image before and after, the layers swapped and kept, and the
    bytes that had to move (uploaded to a registry or copied into a layout)."""

    image: str
    old_digest: str
    new_digest: str
    run_image: str
    run_image_reference: str
    old_base_layers: int
    new_base_layers: int
    app_layers_kept: int
    bytes_moved: int
    app_bytes_moved: int
    blobs_copied: int
    blobs_mounted: int
    blobs_present: int
    manifest_size: int
    warnings: tuple[str, ...] = ()
    top_layer: str = ""

    @property
    def changed(self) -> bool:
        return self.old_digest != self.new_digest


@dataclass
class _Image:
    """An image opened for reading: where, its manifest (OCI types) and its config."""

    text: str
    ref: ImageRef
    source: ImageSource
    manifest: Manifest
    config: ImageConfig
    digest: str


@dataclass
class _Plan:
    """The rebased image before it is written."""

    config: ImageConfig
    base_layers: tuple[Descriptor, ...]
    app_layers: tuple[Descriptor, ...]
    run_image: RunImageMetadata
    warnings: list[str] = field(default_factory=list)


def rebase(
    image: str,
    *,
    run_image: str | None = None,
    force: bool = False,
    publish: bool = False,
    output: str | None = None,
    log: Log = print,
) -> RebaseReport:
    """Rebase the app image ``image`` on ``run_image`` (default: the newest image under the
    recorded run image name or its mirrors) and write it to ``output`` (default: ``image``
    itself). ``publish`` asserts that the image is in a registry (pack's flag).

    Raises RebaseRefused (one line, naming the label or field) when a check fails and
    ``force`` is not set; nothing is written then.
    """
    app_ref = parse_reference(image)
    if publish and app_ref.transport != DOCKER:
        raise BuildError(
            f"--publish needs a registry reference (HOST/REPOSITORY[:TAG]), not {image!r}",
            field="publish",
        )
    destination = output or image
    dest_ref = parse_reference(destination)
    if dest_ref.digest and not dest_ref.tag:
        raise BuildError(
            f"cannot write the rebased image to the digest reference {destination!r}: "
            "give --output with a tag",
            field="output",
        )
    with ExitStack() as stack:
        app = stack.enter_context(_opened(image))
        metadata = _lifecycle_metadata(app)
        base_count = _base_layer_count(app, metadata)
        new_base = _new_run_image(stack, app, metadata, run_image, log)
        log(f"Rebasing {image} on run image {new_base.text}")
        plan = _plan(app, metadata, base_count, new_base, given=run_image, force=force)
        for warning in plan.warnings:
            log(f"Warning: {warning}")
        if metadata.run_image.top_layer == plan.run_image.top_layer and (
            new_base.digest in metadata.run_image.reference
        ):
            log(f"The image is already based on {plan.run_image.reference}")
        log(f"Saving {destination}...")
        digest, manifest_size, copy = _write(destination, app, new_base, plan)
    log(f"*** Images ({digest}):")
    log(f"      {destination}")
    log(f"Rebased Image: {digest}")
    log(f"Successfully rebased image {destination}")
    app_digests = {d.digest for d in plan.app_layers}
    return RebaseReport(
        image=destination,
        old_digest=app.digest,
        new_digest=digest,
        run_image=new_base.text,
        run_image_reference=plan.run_image.reference,
        old_base_layers=base_count,
        new_base_layers=len(plan.base_layers),
        app_layers_kept=len(plan.app_layers),
        bytes_moved=copy.bytes_copied,
        app_bytes_moved=sum(d.size for d in copy.copied if d.digest in app_digests),
        blobs_copied=len(copy.copied),
        blobs_mounted=len(copy.mounted),
        blobs_present=len(copy.skipped),
        manifest_size=manifest_size,
        warnings=tuple(plan.warnings),
        top_layer=plan.run_image.top_layer,
    )


# -- reading -----------------------------------------------------------------------------------


@contextmanager
def _opened(text: str) -> Iterator[_Image]:
    ref = parse_reference(text)
    with open_image(ref) as image:
        manifest, config = image.resolved.manifest.as_oci(), image.config
        if len(manifest.layers) != len(config.diff_ids):
            raise ImageError(
                f"the manifest has {len(manifest.layers)} layers but the config "
                f"{len(config.diff_ids)} diff_ids",
                file=text,
            )
        yield _Image(text, ref, image.source, manifest, config, image.resolved.digest)


def _lifecycle_metadata(app: _Image) -> LifecycleMetadata:
    raw = app.config.labels.get(LIFECYCLE_METADATA_LABEL)
    if raw is None:
        raise ImageError(
            f"not an app image: it has no {LIFECYCLE_METADATA_LABEL} label "
            "(only images built by a CNB lifecycle can be rebased)",
            file=app.text,
        )
    metadata = LifecycleMetadata.from_json(raw)
    if not metadata.run_image.top_layer:
        raise ImageError(
            "the run image's top layer is not recorded",
            file=app.text,
            field=f"{LIFECYCLE_METADATA_LABEL}: runImage.topLayer",
        )
    return metadata


def _base_layer_count(app: _Image, metadata: LifecycleMetadata) -> int:
    """How many layers at the bottom belong to the run image: up to ``topLayer``, taking
    its last occurrence below the layers the lifecycle added (a base may repeat a diffID)."""
    diff_ids = app.config.diff_ids
    top = metadata.run_image.top_layer
    ours = {*metadata.app, metadata.launcher, metadata.config}
    ours.update(layer.sha for bp in metadata.buildpacks for layer in bp.layers.values())
    first_ours = next((i for i, d in enumerate(diff_ids) if d in ours), len(diff_ids))
    found = [i for i, d in enumerate(diff_ids[:first_ours]) if d == top]
    if not found:
        raise ImageError(
            f"the recorded run image top layer {top} is not a layer of the image",
            file=app.text,
            field=f"{LIFECYCLE_METADATA_LABEL}: runImage.topLayer",
        )
    return found[-1] + 1


def _new_run_image(
    stack: ExitStack, app: _Image, metadata: LifecycleMetadata, given: str | None, log: Log
) -> _Image:
    """The run image to rebase on: ``given``, else the first readable of the recorded name
    and its mirrors, those on the app image's registry first (digest §4.4)."""
    if given:
        return stack.enter_context(_opened(given))
    candidates = _recorded_names(metadata)
    if not candidates:
        raise BuildError(
            "the app image records no run image name: give --run-image REF",
            file=app.text,
            field=f"{LIFECYCLE_METADATA_LABEL}: runImage.image",
        )
    ordered = sorted(candidates, key=lambda name: not _same_registry(name, app.ref))
    problems = []
    for name in ordered:
        latest = _without_digest(name)
        try:
            return stack.enter_context(_opened(latest))
        except CnbError as error:
            log(f"Warning: run image {latest} cannot be read: {error}")
            problems.append(latest)
    raise BuildError(
        f"none of the recorded run images can be read ({', '.join(problems)}): "
        "give --run-image REF",
        file=app.text,
    )


def _recorded_names(metadata: LifecycleMetadata) -> list[str]:
    """``runImage.image`` and its mirrors, else ``stack.runImage`` (older images)."""
    names = [metadata.run_image.image, *metadata.run_image.mirrors]
    stack_run = metadata.stack_run_image
    names.append(str(stack_run.get("image", "") or ""))
    mirrors = stack_run.get("mirrors") or []
    if isinstance(mirrors, list):
        names.extend(str(m) for m in mirrors)
    out: list[str] = []
    for name in names:
        if name and name not in out:
            out.append(name)
    return out


def _same_registry(name: str, app_ref: ImageRef) -> bool:
    try:
        ref = parse_reference(name)
    except ImageError:
        return False
    return ref.transport == app_ref.transport == DOCKER and ref.registry == app_ref.registry


def _without_digest(name: str) -> str:
    """A tagged name with its digest pin dropped: rebase wants the tag's newest image."""
    try:
        ref = parse_reference(name)
    except ImageError:
        return name
    if ref.digest and ref.tag and "@" in name:
        return name.rsplit("@", 1)[0]
    return name


# -- checking and planning ------------------------------------------------------------------------


def _plan(
    app: _Image,
    metadata: LifecycleMetadata,
    base_count: int,
    new_base: _Image,
    *,
    given: str | None,
    force: bool,
) -> _Plan:
    warnings: list[str] = []

    def refuse(error: RebaseRefused) -> None:
        if not force:
            raise error
        plain = RebaseRefused(error.message, file=error.file, field=error.field)
        warnings.append(f"{plain} (ignored: --force)")

    for problem in _target_problems(app, new_base):
        refuse(problem)
    run_meta, name_problem = _run_image_metadata(metadata, new_base, given)
    if name_problem is not None:
        refuse(name_problem)
        run_meta = RunImageMetadata(image=_without_digest(new_base.text))
    new_top = new_base.config.diff_ids[-1] if new_base.config.diff_ids else ""
    if not new_top:
        raise BuildError("the new run image has no layers", file=new_base.text)
    run_meta = replace(
        run_meta,
        top_layer=new_top,
        reference=_reference_of(new_base),
    )
    stack_run: dict[str, Any] = {"image": run_meta.image} if run_meta.image else {}
    if run_meta.mirrors:
        stack_run["mirrors"] = list(run_meta.mirrors)
    new_metadata = replace(metadata, run_image=run_meta, stack_run_image=stack_run)
    labels = {key: value for key, value in app.config.labels.items() if not _synced_label(key)}
    labels.update({k: v for k, v in new_base.config.labels.items() if _synced_label(k)})
    labels[LIFECYCLE_METADATA_LABEL] = new_metadata.to_json()
    app_layers = app.manifest.layers[base_count:]
    app_diff_ids = app.config.diff_ids[base_count:]
    history = padded_history(new_base.config) + _history_above(app.config, base_count)
    config = replace(
        app.config,
        labels=labels,
        diff_ids=new_base.config.diff_ids + app_diff_ids,
        history=history,
    )
    return _Plan(config, new_base.manifest.layers, app_layers, run_meta, warnings)


def _target_problems(app: _Image, new_base: _Image) -> Iterator[RebaseRefused]:
    """What makes ``new_base`` unfit for the app image (digest §4.8, rule 2; or stack id and
    mixins for images of Platform API < 0.12)."""
    labels, base_labels = app.config.labels, new_base.config.labels
    if labels.get(REBASABLE_LABEL, "").strip().lower() == "false":
        yield RebaseRefused(
            'is "false": the app image is marked as not rebasable',
            file=app.text,
            field=REBASABLE_LABEL,
            hint="use --force to rebase anyway",
        )
    if not _target_checks_apply(app.config):
        yield from _stack_problems(app, new_base)
        return
    mine, theirs = app.config, new_base.config
    for what, a, b in (("os", mine.os, theirs.os), ("architecture", mine.architecture,
                                                     theirs.architecture)):  # fmt: skip
        if a != b:
            yield _mismatch(new_base, what, f"{what} {b!r}", f"{what} {a!r}")
    if mine.variant and theirs.variant and mine.variant != theirs.variant:
        yield _mismatch(
            new_base, "variant", f"variant {theirs.variant!r}", f"variant {mine.variant!r}"
        )
    for label in (DISTRO_NAME_LABEL, DISTRO_VERSION_LABEL):
        wanted = base_labels.get(label, "")
        have = labels.get(label, "")
        if wanted and have != wanted:
            yield _mismatch(new_base, label, repr(wanted), repr(have) if have else "none")


def _mismatch(new_base: _Image, field_name: str, theirs: str, mine: str) -> RebaseRefused:
    return RebaseRefused(
        f"the new run image has {theirs} but the app image has {mine}",
        file=new_base.text,
        field=field_name,
        hint="use --force to rebase anyway",
    )


def _target_checks_apply(config: ImageConfig) -> bool:
    raw = config.env_dict().get("CNB_PLATFORM_API", "")
    if not raw:
        return False  # the lifecycle treats an image without it as a pre-0.12 one
    try:
        return ApiVersion.parse(raw) >= TARGET_CHECKS_SINCE
    except CnbError:
        return True


def _stack_problems(app: _Image, new_base: _Image) -> Iterator[RebaseRefused]:
    labels, base_labels = app.config.labels, new_base.config.labels
    mine, theirs = labels.get(STACK_ID_LABEL, ""), base_labels.get(STACK_ID_LABEL, "")
    if not mine or mine != theirs:
        yield _mismatch(new_base, STACK_ID_LABEL, repr(theirs or "none"), repr(mine or "none"))
    have = {_unstaged(m) for m in _mixins(base_labels)}
    missing = sorted({_unstaged(m) for m in _mixins(labels) if not m.startswith("build:")} - have)
    if missing:
        yield RebaseRefused(
            f"the new run image lacks required mixin(s): {', '.join(missing)}",
            file=new_base.text,
            field=MIXINS_LABEL,
            hint="use --force to rebase anyway",
        )


def _mixins(labels: Mapping[str, str]) -> list[str]:
    try:
        value = json.loads(labels.get(MIXINS_LABEL, "") or "[]")
    except (ValueError, RecursionError):
        return []
    return [str(m) for m in value] if isinstance(value, list) else []


def _unstaged(mixin: str) -> str:
    for stage in ("build:", "run:"):
        if mixin.startswith(stage):
            return mixin[len(stage) :]
    return mixin


def _run_image_metadata(
    metadata: LifecycleMetadata, new_base: _Image, given: str | None
) -> tuple[RunImageMetadata, RebaseRefused | None]:
    """``runImage`` for the rebased image, or the refusal when ``given`` is neither the
    recorded run image, nor a mirror, nor another tag or digest of their repositories."""
    recorded = metadata.run_image
    if not recorded.image and metadata.stack_run_image.get("image"):
        mirrors = metadata.stack_run_image.get("mirrors") or []
        recorded = replace(
            recorded,
            image=str(metadata.stack_run_image["image"]),
            mirrors=tuple(str(m) for m in mirrors) if isinstance(mirrors, list) else (),
        )
    if given is None:
        return recorded, None
    names = _recorded_names(metadata)
    if any(_without_digest(given) == _without_digest(name) for name in names):
        return recorded, None  # the recorded name or a mirror, maybe pinned to a digest
    if any(_same_repository(new_base.ref, name) for name in names):
        if new_base.ref.tag:  # another tag of the same repository: follow it from now on
            return replace(recorded, image=_without_digest(given)), None
        return recorded, None  # a digest of the same repository: keep the name
    known = ", ".join(names) or "none"
    return recorded, RebaseRefused(
        f"the new run image {given} is not the app's run image, one of its mirrors or the "
        f"same repository (recorded: {known})",
        field=f"{LIFECYCLE_METADATA_LABEL}: runImage.image",
        hint="use --force to rebase on another image",
    )


def _same_repository(ref: ImageRef, name: str) -> bool:
    """Same registry and repository (any tag or digest); for a layout, the same directory."""
    try:
        other = parse_reference(name)
    except ImageError:
        return False
    if ref.transport != other.transport:
        return False
    if ref.transport == DOCKER:
        return (ref.registry, ref.repository) == (other.registry, other.repository)
    if ref.transport == STORE:
        return ref.repository == other.repository
    if ref.transport in (OCI, DOCKER_ARCHIVE):
        return os.path.realpath(ref.path) == os.path.realpath(other.path)
    return False


def _reference_of(image: _Image) -> str:
    """``runImage.reference``: a digest reference in a registry, else the manifest digest."""
    if image.ref.transport == DOCKER:
        return f"{image.ref.name}@{image.digest}"
    return image.digest


def _synced_label(key: str) -> bool:
    return key in SYNCED_LABELS or key.startswith(SYNCED_LABEL_PREFIXES)


def _history_above(config: ImageConfig, base_count: int) -> tuple[HistoryEntry, ...]:
    """The entries of the layers above the first ``base_count``: after the base's last
    layer entry, without the empty (config-only) steps that close the base's history."""
    history = padded_history(config)
    seen = 0
    for index, entry in enumerate(history):
        if not entry.empty_layer:
            seen += 1
        if seen == base_count:
            rest = list(history[index + 1 :])
            while rest and rest[0].empty_layer:
                rest.pop(0)
            return tuple(rest)
    return ()


# -- writing -------------------------------------------------------------------------------------


def _write(
    destination: str, app: _Image, new_base: _Image, plan: _Plan
) -> tuple[str, int, CopyReport]:
    """Move the blobs the destination lacks, then the config and the manifest; return the
    manifest digest, its size and what moved."""
    report = CopyReport()
    dest = open_destination(destination)
    try:
        moves = [(new_base.source, d) for d in plan.base_layers]
        moves += [(app.source, d) for d in plan.app_layers]
        present = _known_present(app, parse_reference(destination))
        for _source, descriptor in moves:
            if descriptor.digest in present:
                report.count("skipped", descriptor)
        moves = [(source, d) for source, d in moves if d.digest not in present]
        workers = PARALLEL_UPLOADS if parse_reference(destination).transport == DOCKER else 1
        _transfer(dest, moves, workers, report)
        written = write_manifest(
            dest,
            plan.config,
            plan.base_layers + plan.app_layers,
            annotations=_annotations(app.manifest, new_base),
        )
        report.count("copied" if written.config_copied else "skipped", written.config)
    finally:
        dest.close()
    return written.digest, written.manifest_size, report


def _known_present(app: _Image, dest_ref: ImageRef) -> set[str]:
    """Blobs the destination certainly has without asking: rebasing in place in a registry
    repository, every blob of the app's manifest is there (a registry keeps the blobs of the
    manifests it holds), which saves a HEAD request per layer."""
    src = app.ref
    if src.transport == dest_ref.transport == DOCKER and (src.registry, src.repository) == (
        dest_ref.registry,
        dest_ref.repository,
    ):
        return {d.digest for d in app.manifest.layers}
    return set()


def _transfer(
    dest: ImageDestination,
    moves: Sequence[tuple[ImageSource, Descriptor]],
    workers: int,
    report: CopyReport,
) -> None:
    """Each blob once, from the image that has it (``blobs.transfer_all``)."""
    sources: dict[str, ImageSource] = {}
    unique: list[Descriptor] = []
    for source, descriptor in moves:
        if descriptor.digest not in sources:
            sources[descriptor.digest] = source
            unique.append(descriptor)

    def move(descriptor: Descriptor) -> tuple[str, Descriptor]:
        return transfer_blob(sources[descriptor.digest], dest, descriptor), descriptor

    transfer_all(unique, move, workers, None, report)


def _annotations(manifest: Manifest, new_base: _Image) -> dict[str, str]:
    """The app manifest's annotations, with the OCI base-image ones pointing at the new base."""
    out = dict(manifest.annotations)
    if "org.opencontainers.image.base.digest" in out:
        out["org.opencontainers.image.base.digest"] = new_base.digest
    if "org.opencontainers.image.base.name" in out:
        out["org.opencontainers.image.base.name"] = new_base.text
    return out


__all__ = ["RebaseRefused", "RebaseReport", "rebase"]
