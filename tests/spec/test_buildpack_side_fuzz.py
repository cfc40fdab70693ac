"""Random TOML never makes a buildpack-side model crash: it parses or raises SpecError.

Tables are built from the real field names (so the parsers get past the first check and
into nested tables) mixed with random names, and values of every TOML type.
"""

from __future__ import annotations

import copy
import datetime
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnbsdk.errors import SpecError
from cnbsdk.spec.build_plan import BuildPlan
from cnbsdk.spec.build_toml import BuildToml
from cnbsdk.spec.buildpack_plan import BuildpackPlan
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.exec_d import ExecDOutput
from cnbsdk.spec.ids import ApiVersion
from cnbsdk.spec.launch_toml import LaunchToml
from cnbsdk.spec.layer_toml import LayerContentMetadata
from cnbsdk.spec.store_toml import StoreToml
from cnbsdk.spec.toml_file import read_toml

FIXTURES = Path(__file__).parent / "fixtures"

FIELD_NAMES = [
    "api", "buildpack", "id", "version", "name", "homepage", "description", "keywords",
    "clear-env", "sbom-formats", "licenses", "type", "uri", "exec-env", "order", "group",
    "optional", "targets", "os", "arch", "variant", "arch-variant", "distros", "stacks",
    "mixins", "metadata", "dependencies", "default-versions", "configurations", "checksum",
    "sha256", "source-checksum", "purl", "cpes", "cpe", "deprecation_date", "strip-components",
    "default", "build", "launch", "cache", "types", "provides", "requires", "or", "entries",
    "unmet", "bom", "processes", "command", "args", "working-dir", "direct", "labels", "key",
    "value", "slices", "paths",
]  # fmt: skip
GOOD_VALUES = [
    "0.10", "0.12", "0.9", "example/ruby", "app", "1.2.3", "01.2.3", "*", "linux",
    "application/vnd.cyclonedx+json", "sha256:" + "a" * 64, "web", "production", "../x",
]  # fmt: skip

keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(min_size=1, max_size=8))
scalars = st.one_of(
    st.sampled_from(GOOD_VALUES),
    st.text(max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(timezones=st.just(datetime.timezone.utc)),
    st.dates(),
)
documents: st.SearchStrategy[dict[str, Any]] = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda children: st.dictionaries(
        keys,
        st.one_of(
            scalars,
            children,
            st.lists(children, max_size=3),
            st.lists(scalars, max_size=3),
        ),
        max_size=5,
    ),
    max_leaves=25,
)


def with_valid_header(parts: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """A random document whose api and buildpack id/version pass, to reach the deeper checks."""
    rest, info = parts
    return {
        **rest,
        "api": "0.12",
        "buildpack": {**info, "id": "example/ruby", "version": "1.2.3"},
    }


any_document = st.one_of(documents, st.tuples(documents, documents).map(with_valid_header))

MODELS = [
    BuildpackDescriptor,
    LaunchToml,
    LayerContentMetadata,
    BuildPlan,
    BuildpackPlan,
    BuildToml,
    StoreToml,
    ExecDOutput,
]
APIS = [None, ApiVersion(0, 8), ApiVersion(0, 10), ApiVersion(0, 12)]


def parse(model: type[Any], text: str, api: ApiVersion | None) -> None:
    try:
        if model is LaunchToml:
            LaunchToml.from_toml(text, api=api)
        else:
            model.from_toml(text)
    except SpecError as error:
        assert "\n" not in str(error)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=any_document, api=st.sampled_from(APIS))
def test_random_toml_gives_a_model_or_a_spec_error(
    model: type[Any], document: dict[str, Any], api: ApiVersion | None
) -> None:
    parse(model, tomli_w.dumps(document), api)


SAMPLES: dict[type[Any], list[str]] = {
    BuildpackDescriptor: [
        "spec/buildpack.toml",
        "spec/stacks-buildpack.toml",
        "third-party/paketo-buildpack.toml",
        "third-party/heroku-buildpack.toml",
        "third-party/composite-buildpack.toml",
    ],
    LaunchToml: ["spec/launch.toml", "third-party/bash-launch.toml"],
    LayerContentMetadata: ["spec/layer.toml", "third-party/ruby-layer.toml"],
    BuildPlan: ["spec/plan.toml"],
    BuildpackPlan: ["spec/buildpack-plan.toml"],
    BuildToml: ["spec/build.toml"],
    StoreToml: ["spec/store.toml"],
    ExecDOutput: ["spec/exec.d.toml"],
}
replacements = st.one_of(scalars, documents, st.lists(documents, max_size=2), st.lists(scalars))


@st.composite
def mutated_sample(draw: st.DrawFn, model: type[Any]) -> dict[str, Any]:
    """A real file of this kind with one to three values swapped for random ones or deleted."""
    document = copy.deepcopy(read_toml(FIXTURES / draw(st.sampled_from(SAMPLES[model]))))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = document
        while True:
            slots = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not slots:
                break
            slot = draw(st.sampled_from(slots))
            child = node[slot]
            if isinstance(child, (dict, list)) and child and draw(st.booleans()):
                node = child
                continue
            if isinstance(node, dict) and draw(st.integers(0, 3)) == 0:
                del node[slot]
            else:
                node[slot] = draw(replacements)
            break
    return document


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), api=st.sampled_from(APIS))
def test_mutated_real_files_give_a_model_or_a_spec_error(
    model: type[Any], data: st.DataObject, api: ApiVersion | None
) -> None:
    parse(model, tomli_w.dumps(data.draw(mutated_sample(model))), api)


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
@settings(max_examples=50, deadline=None)
@given(text=st.text(max_size=60))
def test_random_text_gives_a_model_or_a_spec_error(model: type[Any], text: str) -> None:
    parse(model, text, None)
