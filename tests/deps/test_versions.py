"""Version constraints as buildpack.toml authors and users write them (npm/Masterminds style)."""

from __future__ import annotations

import pytest

from cnbsdk.deps import Constraint, DependencyError, Version


@pytest.mark.parametrize(
    ("constraint", "allowed", "refused"),
    [
        ("22.*", ["22.0.0", "22.11.3"], ["21.9.9", "23.0.0"]),
        ("22.*.*", ["22.4.1"], ["23.0.0"]),
        ("22", ["22.1.0"], ["2.2.0", "23.0.0"]),
        ("~3.11", ["3.11.0", "3.11.9"], ["3.10.9", "3.12.0"]),
        ("~3.11.4", ["3.11.4", "3.11.20"], ["3.11.3", "3.12.0"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["1.1.9", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.2.2", "0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~> 1.2", ["1.2.0", "1.9.0"], ["2.0.0"]),
        ("~> 1.2.3", ["1.2.9"], ["1.3.0"]),
        (">=1.2, <1.4", ["1.2.0", "1.3.9"], ["1.1.9", "1.4.0"]),
        (">= 1.2 < 1.4", ["1.3.0"], ["1.4.0"]),
        ("1.2 - 1.4", ["1.2.0", "1.4.9"], ["1.5.0"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("!=1.2.3", ["1.2.4"], ["1.2.3"]),
        ("1.2.3 || 2.x", ["1.2.3", "2.5.0"], ["1.2.4", "3.0.0"]),
        ("*", ["0.0.1", "99.0.0"], ["2.0.0-rc.1"]),
        (">=2.0.0-rc.1", ["2.0.0-rc.2", "2.0.0"], ["2.0.0-rc.0"]),
        ("17.0.8+7", ["17.0.8+7", "17.0.8"], ["17.0.9"]),
    ],
)
def test_constraints_allow_and_refuse(
    constraint: str, allowed: list[str], refused: list[str]
) -> None:
    parsed = Constraint.parse(constraint)
    assert [v for v in allowed if not parsed.allows(v)] == []
    assert [v for v in refused if parsed.allows(v)] == []


def test_versions_sort_by_semver_precedence() -> None:
    texts = ["1.0.0", "1.0.0-rc.10", "0.9.9", "1.0.0-alpha", "1.0.0-rc.2", "10.0.0", "2.0.0"]
    ordered = sorted(texts, key=lambda t: Version.parse(t))  # type: ignore[arg-type,return-value]
    expected = ["0.9.9", "1.0.0-alpha", "1.0.0-rc.2", "1.0.0-rc.10", "1.0.0", "2.0.0", "10.0.0"]
    assert ordered == expected


def test_a_non_semver_version_matches_only_its_exact_text() -> None:
    assert Constraint.parse("2023-01-15").allows("2023-01-15")
    assert not Constraint.parse("*").allows("2023-01-15")


@pytest.mark.parametrize("bad", ["~", ">=banana", "1.2.3 ||", "!=1.2"])
def test_a_bad_constraint_is_a_one_line_dependency_error(bad: str) -> None:
    with pytest.raises(DependencyError, match="invalid version constraint") as caught:
        Constraint.parse(bad)
    assert "\n" not in str(caught.value)
