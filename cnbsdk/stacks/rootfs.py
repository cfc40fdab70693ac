"""The files an image needs that Debian's maintainer scripts would otherwise generate.

Two small layers: the *skeleton* under all packages (merged-/usr symlinks, /tmp, /root)
is the same for every stack; the *config* layer on top holds the users, the CA bundle and
what else a postinst would write, so changing a user id rewrites only it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cnbsdk.oci.layer_tar import TarEntry
from cnbsdk.stacks.definition import ImageSpec

NOBODY = 65534
# What debootstrap makes for a merged-/usr amd64 bookworm root (lib32/libx32 only exist
# with multilib packages, which stacks do not carry).
ROOT_LINKS = ("bin", "lib", "lib64", "sbin")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
_NSSWITCH = """\
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
"""


def skeleton_entries() -> list[TarEntry]:
    """Merged-/usr symlinks and the directories every Debian root has."""
    entries = [TarEntry.symlink(f"/{name}", f"usr/{name}") for name in ROOT_LINKS]
    entries += [TarEntry.dir(f"/usr/{name}") for name in ROOT_LINKS]
    for path in ("/etc", "/home", "/usr", "/var", "/var/lib", "/run"):
        entries.append(TarEntry.dir(path))
    entries += [
        TarEntry.dir("/root", mode=0o700),
        TarEntry.dir("/tmp", mode=0o1777),
        TarEntry.dir("/var/tmp", mode=0o1777),
        TarEntry.dir("/var/lib/dpkg"),
        TarEntry.dir("/var/lib/dpkg/status.d"),
    ]
    return entries


def passwd_text(spec: ImageSpec) -> str:
    return (
        "root:x:0:0:root:/root:/bin/sh\n"
        f"{spec.user_name}:x:{spec.uid}:{spec.gid}:cnb:/home/{spec.user_name}:/bin/sh\n"
        f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/bin/false\n"
    )


def group_text(spec: ImageSpec) -> str:
    return f"root:x:0:\n{spec.group_name}:x:{spec.gid}:\nnogroup:x:{NOBODY}:\n"


def ca_bundle(rootfs_dirs: Sequence[Path]) -> bytes:
    """What ``update-ca-certificates`` writes: every certificate below
    /usr/share/ca-certificates, sorted by path, concatenated."""
    certificates: dict[str, Path] = {}
    for root in rootfs_dirs:
        base = root / "usr/share/ca-certificates"
        if base.is_dir():
            for path in base.rglob("*.crt"):
                certificates[str(path.relative_to(base))] = path
    chunks = []
    for name in sorted(certificates):
        data = certificates[name].read_bytes()
        chunks.append(data if data.endswith(b"\n") else data + b"\n")
    return b"".join(chunks)


# What the packages' maintainer scripts would register with update-alternatives (none run
# in an image): package -> (link, target). Build tools call `cc` and `c++` (node-gyp,
# CPython's sysconfig, make's defaults), never `gcc` by name.
ALTERNATIVES: dict[str, tuple[tuple[str, str], ...]] = {
    "gcc": (("/usr/bin/cc", "gcc"),),
    "g++": (("/usr/bin/c++", "g++"),),
    "mawk": (("/usr/bin/awk", "mawk"),),
}


def alternative_entries(packages: set[str]) -> list[TarEntry]:
    """The ``update-alternatives`` links of the packages present (``/usr/bin/cc`` ...)."""
    entries = []
    for package in sorted(packages & set(ALTERNATIVES)):
        for link, target in ALTERNATIVES[package]:
            entries.append(TarEntry.symlink(link, target))
    return entries


def config_entries(
    spec: ImageSpec, *, bundle: bytes, has_tzdata: bool, packages: set[str] | None = None
) -> list[TarEntry]:
    """/etc/passwd, /etc/group, the cnb user's home, the CA bundle, nsswitch, localtime,
    and the alternatives links of ``packages``."""
    home = f"/home/{spec.user_name}"
    entries = [
        TarEntry.dir("/etc"),
        TarEntry.file("/etc/passwd", passwd_text(spec).encode()),
        TarEntry.file("/etc/group", group_text(spec).encode()),
        TarEntry.file("/etc/nsswitch.conf", _NSSWITCH.encode()),
        TarEntry.dir("/home"),
        TarEntry.dir(home, mode=0o755, uid=spec.uid, gid=spec.gid),
    ]
    if bundle:
        entries += [
            TarEntry.dir("/etc/ssl"),
            TarEntry.dir("/etc/ssl/certs"),
            TarEntry.file(CA_BUNDLE, bundle),
        ]
    if has_tzdata:
        # tzdata's postinst points /etc/localtime at the configured zone; images use UTC.
        entries.append(TarEntry.symlink("/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"))
        entries.append(TarEntry.file("/etc/timezone", b"Etc/UTC\n"))
    links = alternative_entries(packages or set())
    if links:
        entries += [TarEntry.dir("/usr"), TarEntry.dir("/usr/bin"), *links]
    return entries
