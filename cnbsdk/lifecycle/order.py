"""Order expansion (buildpack.md §Order Resolution, digest §2.3): an order of buildpack
references becomes the flat groups of component buildpacks the detector tries, in order.

* A composite buildpack is replaced where it stands by each group of its own order, depth
  first and left to right, forming a cartesian product with the rest of the group:
  ``[E, O, F]`` with ``O = [[A, B], [C, D]]`` gives ``[E, A, B, F]`` then ``[E, C, D, F]``.
* An optional composite also yields the group without it, right after the groups it
  expanded to (the lifecycle's ``detectOrder`` does exactly this).
* An optional *component* buildpack stays in its group marked optional; the detector skips
  it when it fails and plan resolution drops it when it does not fit. The spec's extra copy
  of the group without it is not generated: it is tried only after the original failed, and
  then provably fails too (an optional component can only help a trial), while a builder
  with thirty optional members (Paketo Java) would yield 2**30 copies. The reference
  lifecycle makes the same choice.
* A buildpack id that appears twice in an expanded group runs once, at its first place
  (lifecycle ``hasIDForKind``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cnbsdk.errors import BuildError
from cnbsdk.spec.buildpack_toml import BuildpackDescriptor
from cnbsdk.spec.ids import ApiVersion, BuildpackId, BuildpackVersion
from cnbsdk.spec.order import GroupEntry, OrderGroup
from cnbsdk.spec.platform_files import GroupMember

# A guard against orders whose expansion explodes (nested composites with many groups each).
MAX_GROUPS = 10_000


@dataclass(frozen=True)
class LocatedBuildpack:
    """A buildpack descriptor and the directory it was read from (its ``CNB_BUILDPACK_DIR``)."""

    descriptor: BuildpackDescriptor
    directory: Path
    # A digest of the directory's content when whoever placed it knows one (a plugin
    # packaged from the cache of packaged plugins); "" when not.
    content_key: str = ""

    @property
    def key(self) -> str:
        return f"{self.descriptor.buildpack.id}@{self.descriptor.buildpack.version}"


class BuildpackLookup(Protocol):
    """Finds a buildpack by id and version (``None``: the only version there is)."""

    def get(self, id: str, version: str | None) -> LocatedBuildpack | None: ...


class BuildpackIndex:
    """The buildpacks the detector may use, by ``(id, version)``."""

    def __init__(self, buildpacks: Iterable[LocatedBuildpack] = ()) -> None:
        self._by_key: dict[tuple[str, str], LocatedBuildpack] = {}
        for located in buildpacks:
            info = located.descriptor.buildpack
            key = (str(info.id), str(info.version))
            if key in self._by_key:
                raise BuildError(
                    f"buildpack {info.id}@{info.version} is given twice "
                    f"({self._by_key[key].directory} and {located.directory})"
                )
            self._by_key[key] = located

    @classmethod
    def from_directories(cls, directories: Iterable[str | os.PathLike[str]]) -> BuildpackIndex:
        """Read ``buildpack.toml`` in each directory (errors name the file and field)."""
        located = []
        for directory in directories:
            path = Path(directory).resolve()
            descriptor = BuildpackDescriptor.read(path / "buildpack.toml")
            located.append(LocatedBuildpack(descriptor, path))
        return cls(located)

    @classmethod
    def from_buildpacks_dir(cls, root: str | os.PathLike[str]) -> BuildpackIndex:
        """Read a platform's ``/cnb/buildpacks`` layout: ``<root>/<escaped id>/<version>/``."""
        root = Path(root)
        directories = sorted(p.parent for p in root.glob("*/*/buildpack.toml"))
        return cls.from_directories(directories)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[LocatedBuildpack]:
        return iter(self._by_key.values())

    def get(self, id: str, version: str | None) -> LocatedBuildpack | None:
        if version is not None:
            return self._by_key.get((id, version))
        found = [located for (bp_id, _), located in self._by_key.items() if bp_id == id]
        if len(found) > 1:
            versions = ", ".join(sorted(str(f.descriptor.buildpack.version) for f in found))
            raise BuildError(
                f"buildpack {id} has several versions ({versions}): the order must name one"
            )
        return found[0] if found else None


@dataclass(frozen=True)
class GroupElement:
    """One component buildpack of an expanded group, as the detector runs it."""

    id: BuildpackId
    version: BuildpackVersion
    optional: bool = False
    buildpack: LocatedBuildpack | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.id}@{self.version}"

    @property
    def located(self) -> LocatedBuildpack:
        if self.buildpack is None:
            raise BuildError(f"buildpack {self} has no descriptor")
        return self.buildpack

    @property
    def descriptor(self) -> BuildpackDescriptor:
        return self.located.descriptor

    @property
    def directory(self) -> Path:
        return self.located.directory

    @property
    def api(self) -> ApiVersion:
        return self.descriptor.api

    @property
    def clear_env(self) -> bool:
        return self.descriptor.buildpack.clear_env

    def to_group_member(self) -> GroupMember:
        """The ``group.toml`` entry: id, version, api and homepage (never ``optional``)."""
        return GroupMember(
            id=self.id,
            version=self.version,
            api=self.api,
            homepage=self.descriptor.buildpack.homepage,
        )


ExpandedGroup = tuple[GroupElement, ...]


def expand_order(order: Sequence[OrderGroup], lookup: BuildpackLookup) -> tuple[ExpandedGroup, ...]:
    """Every group the detector tries, in order (see the module docstring for the rules).

    Empty groups (everything optional left out) and repeats of an earlier group are dropped:
    they cannot change the outcome.
    """
    groups: list[ExpandedGroup] = []
    seen: set[ExpandedGroup] = set()
    for order_group in order:
        for flat in _expand_entries(order_group.group, lookup, ()):
            group = run_once(flat)
            if group and group not in seen:
                seen.add(group)
                groups.append(group)
    return tuple(groups)


def run_once(group: Sequence[GroupElement]) -> ExpandedGroup:
    """Keep only the first element of each buildpack id (lifecycle ``hasIDForKind``)."""
    ids: set[str] = set()
    kept: list[GroupElement] = []
    for element in group:
        if element.id not in ids:
            ids.add(element.id)
            kept.append(element)
    return tuple(kept)


def _expand_entries(
    entries: Sequence[GroupEntry], lookup: BuildpackLookup, parents: tuple[str, ...]
) -> list[ExpandedGroup]:
    # The first entry varies in the outermost loop: depth first, left to right.
    results: list[ExpandedGroup] = [()]
    for entry in entries:
        alternatives = _expand_entry(entry, lookup, parents)
        results = [prefix + alternative for prefix in results for alternative in alternatives]
        if len(results) > MAX_GROUPS:
            raise BuildError(
                f"the order expands to more than {MAX_GROUPS} groups: simplify the composite "
                f"buildpacks' orders"
            )
    return results


def _expand_entry(
    entry: GroupEntry, lookup: BuildpackLookup, parents: tuple[str, ...]
) -> list[ExpandedGroup]:
    located = _find(entry, lookup, parents)
    info = located.descriptor.buildpack
    key = f"{info.id}@{info.version}"
    if not located.descriptor.is_composite:
        element = GroupElement(info.id, info.version, entry.optional, located)
        return [(element,)]
    if key in parents:
        chain = " -> ".join((*parents[parents.index(key) :], key))
        raise BuildError(
            f"composite buildpack {key} includes itself: {chain}",
            file=str(located.directory / "buildpack.toml"),
            field="order",
        )
    alternatives: list[ExpandedGroup] = []
    for sub_group in located.descriptor.order:
        alternatives.extend(_expand_entries(sub_group.group, lookup, (*parents, key)))
    if entry.optional:
        # buildpack.md §Order Resolution: the group without the optional entry comes next.
        alternatives.append(())
    return alternatives


def _find(entry: GroupEntry, lookup: BuildpackLookup, parents: tuple[str, ...]) -> LocatedBuildpack:
    wanted = f"{entry.id}@{entry.version}" if entry.version else str(entry.id)
    located = lookup.get(str(entry.id), str(entry.version) if entry.version else None)
    if located is None:
        where = f" (in the order of {parents[-1]})" if parents else ""
        raise BuildError(f"buildpack {wanted} not found{where}")
    if located.descriptor.buildpack.id != entry.id:
        raise BuildError(f"looking up buildpack {wanted} found {located.key}")
    return located
