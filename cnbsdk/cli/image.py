"""``cnbsdk image create|patch|list|status|trigger|delete``: image records, in kp's shape
(docs/keeping-images-current.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cnbsdk.cli.keep_output import chosen, emit, open_store, output_options, table


def _source_options(function: Any) -> Any:
    for option in reversed(
        [
            click.option("--git", metavar="URL", help="A Git repository to build from."),
            click.option(
                "--git-revision",
                metavar="REV",
                help="The branch, tag or commit of --git (default: main).",
            ),
            click.option(
                "--local-path",
                type=click.Path(file_okay=False, path_type=Path),
                help="A local directory to build from (its content digest is watched).",
            ),
            click.option(
                "--blob", metavar="FILE|URL", help="An archive (.tar.gz, .zip...) to build from."
            ),
            click.option("--sub-path", metavar="PATH", help="The app's directory in the source."),
            click.option(
                "-B",
                "--builder",
                metavar="REF",
                help="The builder (default: the default builder, followed as it changes).",
            ),
            click.option(
                "-e", "--env", "env", multiple=True, metavar="NAME=VALUE", help="Build env."
            ),
            click.option(
                "--additional-tag",
                "additional_tags",
                multiple=True,
                metavar="REF",
                help="Another tag every build writes. Repeatable.",
            ),
            click.option(
                "--success-build-history-limit",
                type=int,
                help="Successful builds kept (default 10).",
            ),
            click.option(
                "--failed-build-history-limit", type=int, help="Failed builds kept (default 10)."
            ),
            click.option(
                "--delivery-command",
                metavar="CMD",
                help="A shell command run after each successful build, the build record as "
                "JSON on its stdin.",
            ),
            click.option(
                "--delivery-webhook",
                metavar="URL",
                help="A URL the build record is POSTed to after each successful build.",
            ),
            click.option(
                "--signing-key",
                metavar="KEY",
                help="A cosign private key: every build and rebase is signed (password from "
                "COSIGN_PASSWORD in the environment of reconcile/serve). '' removes it.",
            ),
            click.option(
                "--advisory-db",
                metavar="DIR",
                help="An OSV database (directory or zip): every build and rebase is scanned, "
                "and a rebase records the advisories it fixed. '' removes it.",
            ),
            click.option(
                "-w",
                "--wait",
                is_flag=True,
                help="Build now (if needed) and stream the build's log.",
            ),
        ]
    ):
        function = option(function)
    return function


def _source(git: str | None, revision: str | None, local: Path | None, blob: str | None) -> Any:
    """The source given on the command line; None when none was."""
    from cnbsdk.keep.model import BLOB, GIT, LOCAL, KeepError, Source

    given = [x for x in (git, local, blob) if x]
    if len(given) > 1:
        raise KeepError("give one source: --git, --local-path or --blob")
    if git:
        return Source(GIT, git, revision or "main")
    if local:
        return Source(LOCAL, str(local.resolve()))
    if blob:
        return Source(BLOB, blob if "://" in blob else str(Path(blob).resolve()))
    return None


def _absolute(path: str | None) -> str:
    """A key or database path as the record keeps it (absolute: serve runs elsewhere)."""
    from cnbsdk.keep.model import KeepError

    if not path:
        return ""
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise KeepError("no such file or directory", file=path)
    return str(resolved)


def _env(pairs: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from cnbsdk.keep.model import KeepError

    out = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise KeepError(f"{pair!r} is not NAME=VALUE", field="--env")
        out.append((name, value))
    return tuple(out)


@click.group("image")
def image() -> None:
    """Image records: what to build, from where, with which builder, kept current."""


@image.command("create")
@click.argument("name")
@click.option("-t", "--tag", required=True, metavar="REF", help="Where to write the image.")
@_source_options
def create(name: str, tag: str, **options: Any) -> None:
    """Create the image record NAME; its first build (CONFIG) runs on the next reconcile."""
    from dataclasses import replace

    from cnbsdk.keep.model import Delivery, ImageSpec, KeepError
    from cnbsdk.keep.validate import check_spec

    source = _source(
        options["git"], options["git_revision"], options["local_path"], options["blob"]
    )
    if source is None:
        raise KeepError("give a source: --git URL, --local-path DIR or --blob FILE|URL")
    if options["git_revision"] and not options["git"]:
        raise KeepError("--git-revision needs --git", field="--git-revision")
    if options["sub_path"]:
        source = replace(source, sub_path=options["sub_path"])
    spec = ImageSpec(
        name=name,
        tag=tag,
        source=source,
        builder=options["builder"] or "",
        env=_env(options["env"]),
        additional_tags=tuple(options["additional_tags"]),
        success_history_limit=options["success_build_history_limit"] or 10,
        failed_history_limit=options["failed_build_history_limit"] or 10,
        delivery=Delivery(options["delivery_command"] or "", options["delivery_webhook"] or ""),
        signing_key=_absolute(options["signing_key"]),
        advisory_db=_absolute(options["advisory_db"]),
    )
    for value, flag in (
        (options["success_build_history_limit"], "--success-build-history-limit"),
        (options["failed_build_history_limit"], "--failed-build-history-limit"),
    ):
        if value is not None and value < 1:
            raise KeepError(f"must be at least 1, not {value}", field=flag)
    check_spec(spec)
    with open_store() as store:
        store.add_image(spec)
        click.echo(f'Image Resource "{name}" created')
        if options["wait"]:
            _wait(store, name)


@image.command("patch")
@click.argument("name")
@click.option("-t", "--tag", metavar="REF", help="A new destination.")
@click.option("-d", "--delete-env", multiple=True, metavar="NAME", help="Drop a build env var.")
@click.option(
    "--delete-additional-tag", multiple=True, metavar="REF", help="Drop an additional tag."
)
@_source_options
def patch(name: str, tag: str | None, delete_env: tuple[str, ...], **options: Any) -> None:
    """Change the image record NAME; what changed decides the next build's reasons."""
    from dataclasses import replace

    from cnbsdk.keep.model import Delivery, KeepError
    from cnbsdk.keep.validate import check_spec

    with open_store() as store:
        old = store.image(name)
        spec = old
        source = _source(
            options["git"], options["git_revision"], options["local_path"], options["blob"]
        )
        if source is None and options["git_revision"]:
            if old.source.kind != "git":
                raise KeepError("--git-revision needs a Git source", field="--git-revision")
            source = replace(old.source, revision=options["git_revision"])
        if source is not None:
            spec = replace(spec, source=replace(source, sub_path=old.source.sub_path))
        if options["sub_path"] is not None:
            spec = replace(spec, source=replace(spec.source, sub_path=options["sub_path"]))
        if tag:
            spec = replace(spec, tag=tag)
        if options["builder"] is not None:
            spec = replace(spec, builder=options["builder"])
        env = dict(spec.env)
        for key in delete_env:
            env.pop(key, None)
        env.update(dict(_env(options["env"])))
        spec = replace(spec, env=tuple(env.items()))
        tags = [t for t in spec.additional_tags if t not in options["delete_additional_tag"]]
        tags += [t for t in options["additional_tags"] if t not in tags]
        spec = replace(spec, additional_tags=tuple(tags))
        if options["success_build_history_limit"] is not None:
            spec = replace(spec, success_history_limit=options["success_build_history_limit"])
        if options["failed_build_history_limit"] is not None:
            spec = replace(spec, failed_history_limit=options["failed_build_history_limit"])
        if options["delivery_command"] is not None or options["delivery_webhook"] is not None:
            spec = replace(
                spec,
                delivery=Delivery(
                    options["delivery_command"]
                    if options["delivery_command"] is not None
                    else spec.delivery.command,
                    options["delivery_webhook"]
                    if options["delivery_webhook"] is not None
                    else spec.delivery.webhook,
                ),
            )
        if options["signing_key"] is not None:
            spec = replace(spec, signing_key=_absolute(options["signing_key"]))
        if options["advisory_db"] is not None:
            spec = replace(spec, advisory_db=_absolute(options["advisory_db"]))
        check_spec(
            spec,
            check_source=spec.source != old.source,
            check_builder=spec.builder != old.builder,
            check_tags=(spec.tag, spec.additional_tags) != (old.tag, old.additional_tags),
        )
        if spec == old:
            click.echo(f'Image Resource "{name}" is unchanged')
        else:
            store.update_image(spec)
            click.echo(f'Image Resource "{name}" patched')
        if options["wait"]:
            _wait(store, name)


def _wait(store: Any, name: str) -> None:
    """Reconcile this image now and stream its build's log (or follow the one running)."""
    from cnbsdk.keep.model import ACTIVE, FAILURE, KeepError
    from cnbsdk.keep.reconcile import reconcile

    report = reconcile(store, names=[name], echo=click.echo)
    if report.unresolved:
        raise KeepError(f"cannot resolve the image {name!r}: {report.unresolved[name]}")
    builds = store.builds(name)
    if not report.ran:
        if not builds or builds[-1].status not in ACTIVE:
            click.echo(f'Image Resource "{name}" is up to date: no build needed')
            return
        from cnbsdk.cli.build_records import follow_log

        follow_log(store, builds[-1])  # another process (serve) is building it
        builds = store.builds(name)
    if builds[-1].status == FAILURE:
        raise SystemExit(1)


@image.command("list")
@output_options
def list_images(output: str, as_json: bool) -> None:
    """Every image record: READY, the latest reason and image (kp image list)."""
    from cnbsdk.keep.status import image_status

    with open_store() as store:
        statuses = [image_status(store, spec.name) for spec in store.images()]
    fmt = chosen(output, as_json)
    if fmt != "table":
        emit(statuses, fmt)
        return
    table(
        ("NAME", "READY", "LATEST REASON", "LATEST IMAGE"),
        [(s["name"], s["ready"], s["latestReason"], s["latestImage"]) for s in statuses],
    )


@image.command("status")
@click.argument("name")
@output_options
def status(name: str, output: str, as_json: bool) -> None:
    """The image record NAME and where it stands (kp image status)."""
    from cnbsdk.keep.status import image_status

    with open_store() as store:
        data = image_status(store, name)
    fmt = chosen(output, as_json)
    if fmt != "table":
        emit(data, fmt)
        return
    spec = data["spec"]
    source = spec["source"]
    # (key, value) rows; a value of None makes the key a block title
    lines: list[tuple[str, str | None]] = [
        ("Status", data["ready"]),
        ("Message", data["message"]),
        ("LatestImage", data["latestImage"]),
        ("LatestTag", data["latestTag"]),
        ("LatestKind", {"build": "REBUILD", "rebase": "REBASE"}.get(data["latestKind"], "")),
        ("", None),
        ("Source", None),
        ("Type", {"git": "GitUrl", "local": "Local Source", "blob": "Blob"}[source["kind"]]),
        ("Url", source["url"]),
    ]
    if source["kind"] == "git":
        lines.append(("Revision", source["revision"]))
    if source.get("sub_path"):
        lines.append(("Sub Path", source["sub_path"]))
    lines += [("", None), ("Builder Ref", spec["builder"] or "(the default builder)")]
    lines.append(("Run Image", data["runImage"]))
    counts = data["vulnerabilities"]
    if counts is not None:
        found = ", ".join(f"{n} {level.lower()}" for level, n in counts.items() if n)
        lines.append(("Vulnerabilities", found or "none known"))
    lines.append(("Signed", "yes" if data["signed"] else "no"))
    blocks = (
        ("Last Successful Build", "lastSuccessfulBuild"),
        ("Last Failed Build", "lastFailedBuild"),
    )
    for title, key in blocks:
        build = data.get(key)
        lines += [("", None), (title, None)]
        lines += [
            ("Id", str(build["number"]) if build else ""),
            ("Build Reason", ",".join(build["reasons"]) if build else ""),
            ("Source Revision", build["inputs"]["revision"] if build else ""),
        ]
    width = max(len(k) for k, _ in lines) + 2
    for key, value in lines:
        click.echo(key if value is None else f"{key + ':':<{width}}{value}".rstrip())


@image.command("trigger")
@click.argument("name")
def trigger(name: str) -> None:
    """Ask for a TRIGGER build of NAME (run by the next reconcile or by serve)."""
    from cnbsdk.keep.trigger import request_trigger

    with open_store() as store:
        number, _when = request_trigger(store, name)
    click.echo(f'Triggered build for Image Resource "{name}" with Build Number {number}')


@image.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete the image record NAME with its builds and logs (built images stay)."""
    with open_store() as store:
        store.delete_image(name)
    click.echo(f'Image Resource "{name}" deleted')


@image.command("export")
@click.argument("name")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["kpack"]),
    default="kpack",
    show_default=True,
    help="What to write: kpack's resources (kpack.io/v1alpha2).",
)
@click.option(
    "--registry",
    metavar="HOST[/PREFIX]",
    default="",
    help="Where images that are not in a registry (local store, oci:) go for the cluster.",
)
@click.option("-n", "--namespace", default="default", show_default=True, help="The namespace.")
def export(name: str, export_format: str, registry: str, namespace: str) -> None:
    """Print the kpack Image, ClusterBuilder, ClusterStore and ClusterStack for NAME."""
    import yaml

    from cnbsdk.distribution.builder_inspect import read_builder
    from cnbsdk.distribution.default_builder import DEFAULT_BUILDER
    from cnbsdk.keep.inputs import default_builder, resolve_builder
    from cnbsdk.keep.kpack_export import StackImages, builder_order, export_kpack

    with open_store() as store:
        spec = store.image(name)
    reference = spec.builder or default_builder()
    state = resolve_builder(reference)  # makes the default builder when it is missing
    info = read_builder(reference)
    if reference == DEFAULT_BUILDER:
        from cnbsdk.lifecycle.default_stack import default_stack

        stack_images = default_stack()
        build_image = stack_images.build_image
    else:
        build_image = reference  # a builder image is its own build image
    exported = export_kpack(
        spec,
        builder=reference,
        order=builder_order(info.order),
        stack=StackImages(state.stack_id, build_image, state.run_image_name),
        registry=registry,
        namespace=namespace,
    )
    lines = [f"# kpack resources for the cnbsdk image {name!r} (cnbsdk image export)"]
    if exported.copies:
        lines.append("# Push these images first:")
        lines += [f"#   cnbsdk copy {src} docker://{dst}" for src, dst in exported.copies]
    click.echo("\n".join(lines))
    click.echo(
        yaml.safe_dump_all(exported.resources, sort_keys=False, explicit_start=True).rstrip()
    )
