"""pack's ``package.toml``: what goes into a buildpackage (pack ``buildpackage/config_reader.go``).

A buildpackage holds one buildpack (or one image extension) and, for a composite buildpack,
the component buildpacks it orders, each from a directory/URI or from an image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from cnbsdk.errors import SpecError
from cnbsdk.spec.exclusive import one_of
from cnbsdk.spec.fields import Fields
from cnbsdk.spec.pack_targets import pack_target_to_dict, parse_pack_targets
from cnbsdk.spec.schema import validate
from cnbsdk.spec.target import Target
from cnbsdk.spec.toml_io import TomlFileModel

PLATFORM_OSES = ("linux", "windows")


@dataclass(frozen=True)
class PackageDependency:
    """A component of a composite buildpack: a ``uri`` or an ``image``, never both."""

    uri: str = ""
    image: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> PackageDependency:
        key = one_of(f, ("uri", "image"))
        value = f.str(key, required=True)
        if not value:
            raise f.error(key, "must not be empty")
        return cls(**{key: value})

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri} if self.uri else {"image": self.image}

    @property
    def location(self) -> str:
        return self.uri or self.image


@dataclass(frozen=True)
class PackageToml(TomlFileModel):
    """``package.toml``: ``[buildpack] uri`` (or ``[extension] uri``), ``[[dependencies]]``,
    ``[platform] os`` and ``[[targets]]``.

    URIs are kept as written; relative paths are relative to the file's directory.
    """

    DEFAULT_FILE: ClassVar[str] = "package.toml"

    buildpack_uri: str = ""
    extension_uri: str = ""
    dependencies: tuple[PackageDependency, ...] = ()
    platform_os: str = ""  # as written; see .os for the default
    targets: tuple[Target, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str) -> PackageToml:
        validate(data, "package", file=file)
        f = Fields(data, file=file)
        module = _module_key(f)
        table = Fields(data[module], file=file, path=module)
        uri = table.str("uri", required=True)
        if not uri:
            raise table.error("uri", "must not be empty")
        platform = f.sub("platform")
        platform_os = platform.str("os", "") if platform else ""
        if platform and platform_os and platform_os not in PLATFORM_OSES:
            raise platform.error(
                "os", f"expected one of 'linux', 'windows', got str {platform_os!r}"
            )
        return cls(
            buildpack_uri=uri if module == "buildpack" else "",
            extension_uri=uri if module == "extension" else "",
            dependencies=tuple(PackageDependency.from_fields(d) for d in f.each("dependencies")),
            platform_os=platform_os,
            targets=parse_pack_targets(f),
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.extension_uri:
            data["extension"] = {"uri": self.extension_uri}
        else:
            data["buildpack"] = {"uri": self.buildpack_uri}
        if self.dependencies:
            data["dependencies"] = [d.to_dict() for d in self.dependencies]
        if self.platform_os:
            data["platform"] = {"os": self.platform_os}
        if self.targets:
            data["targets"] = [pack_target_to_dict(t) for t in self.targets]
        return data

    def image_references(self) -> list[tuple[str, str]]:
        """Every image reference in the file, as (field, text)."""
        pairs: list[tuple[str, str]] = []
        for i, dependency in enumerate(self.dependencies):
            if dependency.image:
                pairs.append((f"dependencies[{i}].image", dependency.image))
            elif dependency.uri.startswith("docker://"):
                pairs.append((f"dependencies[{i}].uri", dependency.uri))
        return pairs

    @property
    def os(self) -> str:
        """The platform OS: ``[platform] os``, else the targets' one OS, else linux (pack)."""
        if self.platform_os:
            return self.platform_os
        oses = {t.os for t in self.targets if t.os}
        return oses.pop() if len(oses) == 1 else "linux"

    @property
    def is_extension(self) -> bool:
        return bool(self.extension_uri)

    @property
    def module_uri(self) -> str:
        """The URI of the buildpack or extension being packaged."""
        return self.extension_uri or self.buildpack_uri


# The same words as the schema's errorMessage for these rules.
_BOTH_MODULES = "set only one of [buildpack] or [extension]"
_NO_MODULE = "needs a [buildpack] table with a uri (or [extension] to package an extension)"


def _module_key(f: Fields) -> str:
    """``buildpack`` or ``extension``: what the package holds."""
    present = [key for key in ("buildpack", "extension") if key in f.table]
    if len(present) != 1:
        raise SpecError(_BOTH_MODULES if present else _NO_MODULE, file=f.file)
    return present[0]
