"""Unit tests of the Node.js buildpack's pure parts, and detect through the cnbsdk pytest
plugin (bin/detect as the lifecycle runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cnbsdk_node.processes import processes
from cnbsdk_node.project import read_project
from cnbsdk_node.sbom import lockfile_components, npm_purl
from cnbsdk_node.versions import normalise, version_requests

from cnbsdk.buildpack import BuildpackError
from cnbsdk.buildpack.procfile import read_procfile

BUILDPACK = "cnbsdk_node"


@pytest.mark.parametrize(
    ("text", "constraint"),
    [
        ("v22.11.0", "22.11.0"),
        ("22", "22"),
        (">=20 <25", ">=20 <25"),
        ("lts/*", ""),
        ("lts/jod", ""),
        ("node", ""),
        ("  v24\n", "24"),
    ],
)
def test_nvm_style_versions_become_constraints(text: str, constraint: str) -> None:
    assert normalise(text) == constraint


def test_version_sources_in_priority_order(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(json.dumps({"engines": {"node": "^22"}}))
    (tmp_path / ".nvmrc").write_text("# pinned\nv24.1.0\n")
    (tmp_path / ".node-version").write_text("26\n")
    project = read_project(tmp_path, {})
    requests = version_requests(project, {"BP_NODE_VERSION": "v26.1"})
    assert [(r.source, r.constraint) for r in requests if r] == [
        ("BP_NODE_VERSION", "26.1"),
        ('package.json "engines"', "^22"),
        (".nvmrc", "24.1.0"),
        (".node-version", "26"),
    ]
    assert version_requests(project, {})[0] is None


def test_invalid_package_json_names_the_file_and_position(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{\n  "name": "x",\n  "scripts": {,}\n}\n')
    with pytest.raises(BuildpackError) as caught:
        read_project(tmp_path, {})
    assert str(caught.value) == (
        f"{tmp_path / 'package.json'}: invalid JSON at line 3 column 15:"
        " Expecting property name enclosed in double quotes"
    )


@pytest.mark.parametrize("path", ["../elsewhere", "/etc", "missing"])
def test_a_bad_project_path_is_one_line(tmp_path: Path, path: str) -> None:
    with pytest.raises(BuildpackError, match="BP_NODE_PROJECT_PATH"):
        read_project(tmp_path, {"BP_NODE_PROJECT_PATH": path})


def test_processes_from_procfile_start_script_or_entry_file(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text(
        json.dumps({"main": "lib/app.js", "scripts": {"start": "node lib/app.js --port $PORT"}})
    )
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/app.js").write_text("")
    found, source = processes(read_project(tmp_path, {}), tmp_path)
    assert source == 'package.json "scripts.start"'
    assert [(p.type, list(p.command), p.default) for p in found] == [
        ("web", ["sh", "-c", "node lib/app.js --port $PORT"], True)
    ]

    (tmp_path / "package.json").write_text(json.dumps({"main": "lib/app.js"}))
    found, source = processes(read_project(tmp_path, {}), tmp_path)
    assert source == "lib/app.js" and list(found[0].command) == ["node", "lib/app.js"]

    (tmp_path / "Procfile").write_text("# processes\nweb: node lib/app.js\nworker: node w.js\n")
    found, source = processes(read_project(tmp_path, {}), tmp_path)
    assert source == "Procfile"
    assert [(p.type, p.default) for p in found] == [("web", True), ("worker", False)]


def test_no_entry_point_gives_no_process(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text("{}")
    assert processes(read_project(tmp_path, {}), tmp_path) == ([], "")


def test_a_broken_procfile_line_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "Procfile").write_text("web node app.js\n")
    with pytest.raises(BuildpackError, match="Procfile: line 1: expected 'type: command'"):
        read_procfile(tmp_path / "Procfile")


def test_lockfile_packages_become_production_and_dev_components(tmp_path: Path) -> None:
    lock = tmp_path / "package-lock.json"
    lock.write_text(
        json.dumps(
            {
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "app"},
                    "node_modules/express": {"version": "4.21.2", "license": "MIT"},
                    "node_modules/@types/node": {"version": "22.0.0", "dev": True},
                    "node_modules/a/node_modules/express": {"version": "4.21.2"},
                    "packages/local": {"link": True},
                },
            }
        )
    )
    production, dev = lockfile_components(lock)
    assert [(c.name, c.version, c.purl, tuple(c.licenses)) for c in production] == [
        ("express", "4.21.2", "pkg:npm/express@4.21.2", ("MIT",))
    ]
    assert [c.purl for c in dev] == ["pkg:npm/%40types/node@22.0.0"]
    assert npm_purl("@scope/pkg", "1.0.0") == "pkg:npm/%40scope/pkg@1.0.0"


def test_detect_passes_on_package_json_and_version_files(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    for files in ({"package.json": "{}"}, {".nvmrc": "22\n"}, {".node-version": "24"}):
        result = run_detect(BUILDPACK, cnb_app(files))
        assert result.passed, result.output
        assert [p.name for p in result.plan.provides] == ["node"]


def test_detect_fails_without_node_files(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    result = run_detect(BUILDPACK, cnb_app({"requirements.txt": "flask\n"}))
    assert result.exit_code == 100
    assert "no package.json, .nvmrc or .node-version" in result.output


def test_detect_fails_on_invalid_package_json_with_the_cause(cnb_app, run_detect) -> None:  # type: ignore[no-untyped-def]
    result = run_detect(BUILDPACK, cnb_app({"package.json": "{oops"}))
    assert result.exit_code not in (0, 100)
    assert "package.json: invalid JSON at line 1 column 2" in result.output


@pytest.mark.parametrize(
    ("files", "name", "spec", "first_install"),
    [
        (
            {"package.json": "{}"},
            "npm",
            "npm",
            ["install", "--include=dev", "--no-audit", "--no-fund"],
        ),
        (
            {"package.json": "{}", "package-lock.json": "{}"},
            "npm",
            "npm",
            ["ci", "--include=dev", "--no-audit", "--no-fund"],
        ),
        (
            {"package.json": "{}", "yarn.lock": ""},
            "yarn",
            "yarn",
            ["install", "--frozen-lockfile", "--non-interactive", "--production=false"],
        ),
        (
            {"package.json": '{"packageManager": "yarn@4.5.0+sha224.abc"}', "yarn.lock": ""},
            "yarn",
            "yarn@4.5.0",
            ["install", "--immutable"],
        ),
        (
            {"package.json": "{}", "pnpm-lock.yaml": ""},
            "pnpm",
            "pnpm",
            ["install", "--frozen-lockfile"],
        ),
    ],
)
def test_the_package_manager_comes_from_package_json_or_the_lockfile(
    tmp_path: Path, files: dict[str, str], name: str, spec: str, first_install: list[str]
) -> None:
    from cnbsdk_node.package_managers import package_manager

    for file, text in files.items():
        (tmp_path / file).write_text(text)
    manager = package_manager(read_project(tmp_path, {}))
    assert (manager.name, manager.spec) == (name, spec)
    assert manager.install(dev=True) == first_install


def test_a_bad_package_manager_field_is_one_line(tmp_path: Path) -> None:
    from cnbsdk_node.package_managers import package_manager

    (tmp_path / "package.json").write_text('{"packageManager": "bun@1.0.0"}')
    with pytest.raises(BuildpackError, match=r'"packageManager" is .bun@1\.0\.0.: expected npm@'):
        package_manager(read_project(tmp_path, {}))


def test_yarn_plug_n_play_is_refused_in_one_line(tmp_path: Path) -> None:
    from cnbsdk_node.package_managers import package_manager

    (tmp_path / "package.json").write_text('{"packageManager": "yarn@4.5.0"}')
    (tmp_path / ".yarnrc.yml").write_text("enableTelemetry: false\nnodeLinker: pnp\n")
    with pytest.raises(BuildpackError) as caught:
        package_manager(read_project(tmp_path, {}))
    assert str(caught.value).startswith(
        f"{tmp_path}/.yarnrc.yml: nodeLinker: yarn Plug'n'Play (nodeLinker: pnp) is not supported"
    )
    (tmp_path / ".yarnrc.yml").write_text("nodeLinker: node-modules\n")
    assert package_manager(read_project(tmp_path, {})).berry
