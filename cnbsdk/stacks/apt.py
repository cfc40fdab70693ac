"""Resolving and downloading Debian packages through an isolated apt.

apt runs with its own state (package lists and a dpkg status of our making) and its own
cache below the cnbsdk cache directory, so the host's package database is never read or
touched and the dependency closure is computed for an *empty* system. It uses the host's
apt sources and trusted keys (or the stack file's own sources) and the host's apt.conf.d,
so proxies and mirror settings work as they do for the host's own apt.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from cnbsdk.errors import StackError
from cnbsdk.oci.digest import digest_hex, file_sha256
from cnbsdk.progress import ProgressFactory, silent
from cnbsdk.stacks.lock import LockedPackage

HOST_SOURCE_LIST = Path("/etc/apt/sources.list")
HOST_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
# A version no archive carries: a stub "installed" at it satisfies every versioned dependency.
_STUB_VERSION = "99999:0"
_INST = re.compile(r"^Inst (\S+) \((\S+) .*\[(\S+)\]\)")


def _run(args: Sequence[str], *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive")
    env.pop("APT_CONFIG", None)
    try:
        return subprocess.run(
            list(args), cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        raise StackError(
            f"{args[0]} not found", hint="stack creation needs apt (Debian or Ubuntu host)"
        ) from None


def _errors(output: str) -> list[str]:
    return [line[3:].strip() for line in output.splitlines() if line.startswith("E: ")]


def host_sources_text() -> str:
    """The host's apt source configuration, as one text (for keying the private state)."""
    parts = []
    if HOST_SOURCE_LIST.is_file():
        parts.append(HOST_SOURCE_LIST.read_text(errors="replace"))
    if HOST_SOURCE_PARTS.is_dir():
        for path in sorted(HOST_SOURCE_PARTS.iterdir()):
            if path.suffix in (".list", ".sources") and path.is_file():
                parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


class AptWorkspace:
    """A private apt state for one set of sources and one architecture."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        architecture: str,
        sources: Sequence[str] = (),
        stack_file: str = "stack-definition.toml",
    ) -> None:
        self.architecture = architecture
        self.sources = tuple(sources)
        self.stack_file = stack_file
        text = "\n".join(self.sources) if self.sources else host_sources_text()
        key = hashlib.sha256(f"{architecture}\n{text}".encode()).hexdigest()[:16]
        self.root = cache_dir / "apt" / key
        self.debs = cache_dir / "debs"
        for sub in ("state/lists/partial", "cache/archives/partial", "etc/sources.list.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.debs.mkdir(parents=True, exist_ok=True)
        if self.sources:
            (self.root / "etc/sources.list").write_text("\n".join(self.sources) + "\n")
        self._updated = False
        self._verified: set[Path] = set()

    # -- apt invocation -------------------------------------------------------------

    def _options(self, status: Path | None = None) -> list[str]:
        state = self.root / "state"
        options = {
            "Dir::State": str(state),
            "Dir::State::Lists": str(state / "lists"),
            "Dir::State::status": str(status or self._status_file(())),
            "Dir::State::extended_states": str(state / "extended_states"),
            "Dir::Cache": str(self.root / "cache"),
            "Dir::Cache::pkgcache": "",
            "Dir::Cache::srcpkgcache": "",
            "APT::Architecture": self.architecture,
            "APT::Architectures::": self.architecture,
            "APT::Install-Recommends": "false",
            "APT::Install-Suggests": "false",
            "APT::Get::AllowUnauthenticated": "false",
            "APT::Sandbox::User": "root",
            "APT::Update::Post-Invoke-Success::": "",
            "Acquire::Languages": "none",
            "Debug::NoLocking": "true",
        }
        if self.sources:
            options["Dir::Etc::SourceList"] = str(self.root / "etc/sources.list")
            options["Dir::Etc::SourceParts"] = str(self.root / "etc/sources.list.d")
        else:
            options["Dir::Etc::SourceList"] = str(HOST_SOURCE_LIST)
            options["Dir::Etc::SourceParts"] = str(HOST_SOURCE_PARTS)
        args: list[str] = []
        for name, value in options.items():
            args += ["-o", f"{name}={value}"]
        return args

    def _status_file(self, stubs: Iterable[str]) -> Path:
        """A dpkg status claiming only ``stubs`` are installed: apt then resolves the
        closure for an empty system and leaves the stubbed packages (and what only they
        need) out."""
        stubs = sorted(set(stubs))
        text = "".join(
            f"Package: {name}\nStatus: install ok installed\nVersion: {_STUB_VERSION}\n"
            f"Architecture: all\nMaintainer: cnbsdk\nDescription: left out by the stack\n\n"
            for name in stubs
        )
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        path = self.root / "state" / f"status-{digest}"
        if not path.exists():
            path.write_text(text)
        return path

    def update(self) -> None:
        """Download the package lists into the private state (verifying Release files)."""
        if self._updated:
            return
        result = _run(["apt-get", *self._options(), "-q", "update"])
        failures = [
            line
            for line in (result.stdout + result.stderr).splitlines()
            if line.startswith(("Err:", "E: ", "W: Failed to fetch", "W: GPG error"))
        ]
        if result.returncode != 0 or failures:
            lists = self.root / "state/lists"
            if not any(
                p.suffix in ("", ".gz", ".xz") and p.is_file() and p.name != "lock"
                for p in lists.iterdir()
            ):
                shutil.rmtree(self.root, ignore_errors=True)  # never worked: leave no trace
            detail = failures[0] if failures else f"exit status {result.returncode}"
            raise StackError(
                f"apt-get update failed: {' '.join(detail.split())}",
                file=self.stack_file if self.sources else "/etc/apt/sources.list",
                field="apt.sources" if self.sources else None,
                hint="check the apt sources and that their mirror is reachable",
            )
        self._updated = True

    # -- resolution -----------------------------------------------------------------

    def resolve(
        self, packages: Sequence[str], exclude: Sequence[str], *, field: str
    ) -> list[tuple[str, str]]:
        """The full dependency closure of ``packages`` on an empty system, without the
        ``exclude``d packages: (name, version) pairs, sorted by name."""
        self.update()
        status = self._status_file(exclude)
        args = ["apt-get", *self._options(status), "install", "-s", "-q"]
        result = _run([*args, "--no-install-recommends", *packages])
        if result.returncode != 0:
            raise self._resolve_error(result.stdout + result.stderr, field)
        pins = []
        for line in result.stdout.splitlines():
            match = _INST.match(line)
            if match:
                pins.append((match.group(1).split(":")[0], match.group(2)))
        return sorted(pins)

    def _resolve_error(self, output: str, field: str) -> StackError:
        errors = _errors(output)
        for line in errors:
            match = re.match(r"Unable to locate package (\S+)", line)
            if match:
                return StackError(
                    f"unknown package {match.group(1)!r}: no apt source carries it",
                    file=self.stack_file,
                    field=field,
                )
        broken = [line.strip() for line in output.splitlines() if " Depends: " in line]
        detail = broken[0] if broken else (errors[0] if errors else "apt-get failed")
        return StackError(
            f"cannot resolve the packages: {' '.join(detail.split())}",
            file=self.stack_file,
            field=field,
        )

    def describe(self, pins: Sequence[tuple[str, str]]) -> list[LockedPackage]:
        """The index records (file name, size, SHA256, source) of exact versions."""
        self.update()
        if not pins:
            return []
        args = [f"{name}={version}" for name, version in pins]
        result = _run(["apt-cache", *self._options(), "show", *args])
        if result.returncode != 0:
            raise StackError(
                f"apt-cache show failed: {(_errors(result.stderr) or ['?'])[0]}",
                file=self.stack_file,
            )
        records: dict[str, LockedPackage] = {}
        for stanza in result.stdout.split("\n\n"):
            fields = _parse_stanza(stanza)
            name = fields.get("Package")
            if not name or name in records:
                continue
            records[name] = LockedPackage(
                name=name,
                version=fields["Version"],
                architecture=fields["Architecture"],
                source=fields.get("Source", name).split(" ", 1)[0],
                filename=fields["Filename"],
                size=int(fields["Size"]),
                sha256=fields["SHA256"],
            )
        missing = [name for name, _ in pins if name not in records]
        if missing:
            raise StackError(f"no index record for {missing[0]}", file=self.stack_file)
        return [records[name] for name, _ in pins]

    def available_versions(self, name: str) -> list[str]:
        """Every version of ``name`` the sources carry (newest first)."""
        self.update()
        result = _run(["apt-cache", *self._options(), "madison", name])
        versions = []
        for line in result.stdout.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) >= 2 and parts[0] == name and parts[1] not in versions:
                versions.append(parts[1])
        return versions

    # -- downloads ------------------------------------------------------------------

    def deb_path(self, package: LockedPackage) -> Path:
        return self.debs / f"{package.sha256}.deb"

    def missing(self, packages: Iterable[LockedPackage]) -> list[LockedPackage]:
        """The packages whose verified .deb is not in the download cache yet. A cached file
        whose size or SHA256 does not match (damaged, truncated, unreadable) is dropped."""
        todo = []
        for package in packages:
            path = self.deb_path(package)
            if path in self._verified:
                continue
            if _verified(path, package):
                self._verified.add(path)
                continue
            if path.exists() or path.is_symlink():
                path.unlink()  # damaged: fetched again (or reported, offline)
            todo.append(package)
        return todo

    def unavailable(self, packages: Sequence[LockedPackage]) -> list[LockedPackage]:
        """The packages whose pinned version the apt sources no longer carry (Debian's
        security archive keeps only the newest version of each package)."""
        if not packages:
            return []
        self.update()
        names = sorted({p.name for p in packages})
        result = _run(["apt-cache", *self._options(), "madison", *names])
        carried: set[tuple[str, str]] = set()
        for line in result.stdout.splitlines():
            parts = [part.strip() for part in line.split("|")]
            if len(parts) >= 2:
                carried.add((parts[0], parts[1]))
        return [p for p in packages if (p.name, p.version) not in carried]

    def download(
        self,
        packages: Sequence[LockedPackage],
        *,
        lock_file: str,
        progress: ProgressFactory = silent,
        offline: bool = False,
    ) -> None:
        """Fetch the exact versions into the cache (the cache first, then the mirror),
        verifying size and SHA256 against the lock (apt also checks them against the signed
        index). ``offline``: the cache only."""
        todo = self.missing(packages)
        if not todo:
            return
        if offline:
            raise StackError(
                f"{_names(todo)} {'is' if len(todo) == 1 else 'are'} not in the .deb cache"
                f" ({self.debs}) and --offline forbids downloading",
                file=lock_file,
                field=f"package.{todo[0].name}",
                hint="run once without --offline to fill the cache",
            )
        gone = self.unavailable(todo)
        if gone:
            raise StackError(
                f"{_names(gone)} {'is' if len(gone) == 1 else 'are'} no longer in the apt sources",
                file=lock_file,
                field=f"package.{gone[0].name}",
                hint="run `cnbsdk stack update` to pin the newest versions",
            )
        total = sum(p.size for p in todo)
        noun = "package" if len(todo) == 1 else "packages"
        bar = progress(f"Downloading {len(todo)} {noun}", total)
        sizes = {p.name: p.size for p in todo}
        with tempfile.TemporaryDirectory(dir=self.debs, prefix=".download-") as tmp:
            args = ["apt-get", *self._options(), "download", "-q"]
            args += [f"{p.name}={p.version}" for p in todo]
            env = dict(os.environ, LC_ALL="C")
            env.pop("APT_CONFIG", None)
            process = subprocess.Popen(
                args, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            assert process.stdout is not None
            for line in process.stdout:
                parts = line.split()
                if parts and parts[0].startswith("Get:"):
                    for name, size in sizes.items():
                        if f" {name} " in f" {' '.join(parts[1:])} ":
                            bar.advance(size)
                            break
            stderr = process.stderr.read() if process.stderr else ""
            process.wait()
            bar.finish(ok=process.returncode == 0)
            if process.returncode != 0:
                raise self._download_error(stderr, lock_file)
            by_sha = {p.sha256: p for p in todo}
            for path in Path(tmp).glob("*.deb"):
                sha = digest_hex(file_sha256(path))
                if sha in by_sha:
                    os.replace(path, self.deb_path(by_sha[sha]))
        still = self.missing(todo)
        if still:
            p = still[0]
            raise StackError(
                f"{p.name} {p.version}: the downloaded file does not match the lock's SHA256",
                file=lock_file,
                field=f"package.{p.name}.sha256",
                hint="run `cnbsdk stack update` to pin what the archive serves",
            )

    def _download_error(self, output: str, lock_file: str) -> StackError:
        for line in _errors(output):
            match = re.match(r"Version '([^']+)' for '([^']+)' was not found", line)
            if match:
                return StackError(
                    f"{match.group(2)} {match.group(1)} is no longer in the apt sources",
                    file=lock_file,
                    field=f"package.{match.group(2)}",
                    hint="run `cnbsdk stack update` to pin the newest versions",
                )
        errors = _errors(output) or [output.strip().splitlines()[-1] if output.strip() else "?"]
        return StackError(f"apt-get download failed: {' '.join(errors[0].split())}")

    def clear(self) -> None:
        """Forget the private apt state (package lists), keeping downloads."""
        shutil.rmtree(self.root, ignore_errors=True)


def _names(packages: Sequence[LockedPackage], limit: int = 5) -> str:
    """``a 1.0, b 2.0 and 3 more``: the packages a message is about."""
    shown = ", ".join(f"{p.name} {p.version}" for p in packages[:limit])
    more = len(packages) - limit
    return f"{shown} and {more} more" if more > 0 else shown


def _parse_stanza(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = ""
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t"):
            if key:
                fields[key] += "\n" + line
            continue
        if ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _verified(path: Path, package: LockedPackage) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != package.size:
            return False
        return digest_hex(file_sha256(path)) == package.sha256
    except OSError:
        return False  # unreadable: as good as absent
