"""Registry credentials and the ``WWW-Authenticate`` dance: Basic, and the Bearer token flow.

Credentials are looked up the way the CNB lifecycle does (platform.md §Registry
Authentication): explicit ones first, then ``CNB_REGISTRY_AUTH`` (JSON mapping a registry to
a ready ``Authorization`` header value), then Docker's ``config.json``, else anonymous.
Nothing here ever puts a secret into a message, a log line or a ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import requests

from cnbsdk.errors import RegistryError, register_secret
from cnbsdk.oci.registry.address import insecure_registries, is_insecure, is_loopback

# A token is refreshed this long before the registry said it expires.
_EXPIRY_MARGIN = 10.0
# Token endpoints that send no ``expires_in`` mean 60 seconds (distribution token spec).
_DEFAULT_TOKEN_LIFETIME = 60.0


@dataclass(frozen=True)
class Credentials:
    """What to prove identity with: a user and password, or a ready header value.

    ``origin`` says where they came from, so an error can tell the user which file or
    variable to fix without ever showing the secret itself.
    """

    username: str = ""
    password: str = field(default="", repr=False)
    authorization: str = field(default="", repr=False)
    origin: str = "explicit credentials"

    def __post_init__(self) -> None:
        # Whatever echoes them later (an error body, a log line) prints <redacted> instead.
        scheme_value = self.authorization.partition(" ")[2].strip()
        basic = self.basic_header() or ""
        register_secret(self.password, self.authorization, scheme_value, basic[6:])

    def basic_header(self) -> str | None:
        """The ``Basic`` header value for these credentials, if they can make one."""
        if self.authorization.lower().startswith("basic "):
            return self.authorization
        if self.username or self.password:
            pair = f"{self.username}:{self.password}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return None

    def bearer_header(self) -> str | None:
        """A ready ``Bearer`` header value (from ``CNB_REGISTRY_AUTH``), if given one."""
        if self.authorization.lower().startswith("bearer "):
            return self.authorization
        return None


def normalize_registry(key: str) -> str:
    """``https://host:5000/v1/`` or ``host:5000`` -> ``host:5000``, as config.json keys vary."""
    key = key.strip()
    key = re.sub(r"^[a-z]+://", "", key, flags=re.IGNORECASE)
    return key.split("/", 1)[0].lower()


def load_credentials(registry: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """Credentials for ``registry`` from ``CNB_REGISTRY_AUTH`` or Docker's config.json."""
    env = os.environ if environ is None else environ
    wanted = normalize_registry(registry)
    found = _from_cnb_registry_auth(wanted, env.get("CNB_REGISTRY_AUTH", ""))
    if found is None:
        found = _from_docker_config(wanted, docker_config_path(env))
    return found


def docker_config_path(environ: Mapping[str, str]) -> Path:
    """``$DOCKER_CONFIG/config.json``, by default ``~/.docker/config.json``."""
    directory = environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(directory) / "config.json"


def _from_cnb_registry_auth(registry: str, text: str) -> Credentials | None:
    if not text.strip():
        return None
    try:
        entries = json.loads(text)
    except RecursionError:
        raise RegistryError("not valid JSON (nested too deep)", file="CNB_REGISTRY_AUTH") from None
    except json.JSONDecodeError as error:
        raise RegistryError(
            f"not valid JSON (line {error.lineno} column {error.colno})",
            file="CNB_REGISTRY_AUTH",
            hint='expected {"<registry>": "<Authorization header value>"}',
        ) from None
    except ValueError:  # e.g. an integer longer than Python converts
        raise RegistryError("not valid JSON", file="CNB_REGISTRY_AUTH") from None
    if not isinstance(entries, dict):
        raise RegistryError("must be a JSON object", file="CNB_REGISTRY_AUTH")
    for key, value in entries.items():
        if normalize_registry(str(key)) != registry:
            continue
        if not isinstance(value, str) or " " not in value.strip():
            raise RegistryError(
                "must be an Authorization header value such as 'Basic <base64>'",
                file="CNB_REGISTRY_AUTH",
                field=str(key),
            )
        return Credentials(authorization=value.strip(), origin="CNB_REGISTRY_AUTH")
    return None


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RegistryError(f"cannot read: {error.strerror}", file=str(path)) from None
    try:
        config = json.loads(text) if text.strip() else {}
    except RecursionError:
        raise RegistryError("not valid JSON (nested too deep)", file=str(path)) from None
    except json.JSONDecodeError as error:
        raise RegistryError(
            f"not valid JSON (line {error.lineno} column {error.colno})", file=str(path)
        ) from None
    except ValueError:  # e.g. an integer longer than Python converts
        raise RegistryError("not valid JSON", file=str(path)) from None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if normalize_registry(str(key)) != registry or not isinstance(entry, dict):
            continue
        where = f"auths.{key}"
        if entry.get("auth"):
            username, password = _decode_auth(str(entry["auth"]), str(path), f"{where}.auth")
            return Credentials(username=username, password=password, origin=str(path))
        if entry.get("username") or entry.get("password"):
            return Credentials(
                username=str(entry.get("username", "")),
                password=str(entry.get("password", "")),
                origin=str(path),
            )
    return None


def _decode_auth(value: str, file: str, field_name: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if ":" not in decoded:
        raise RegistryError(
            "is not base64 of 'user:password'", file=file, field=field_name
        ) from None
    username, _, password = decoded.partition(":")
    return username, password


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: the scheme and its parameters."""

    scheme: str
    params: dict[str, str]

    @classmethod
    def parse(cls, header: str) -> Challenge:
        scheme, _, rest = header.strip().partition(" ")
        params = {
            match.group(1).lower(): match.group(2) if match.group(2) is not None else match.group(3)
            for match in re.finditer(r'([A-Za-z_]+)=(?:"([^"]*)"|([^,\s]*))', rest)
        }
        return cls(scheme=scheme.lower(), params=params)


@dataclass
class _Token:
    header: str
    expires_at: float


class Authenticator:
    """Chooses the ``Authorization`` header for each request and answers challenges.

    The registry's challenge is remembered, so after the first 401 every new scope gets
    its token before the request is sent instead of after a second 401.
    """

    def __init__(
        self,
        registry: str,
        credentials: Credentials | None,
        session: requests.Session,
        verify: str | bool = True,
        *,
        timeout: Callable[[], tuple[float, float]] = lambda: (10.0, 60.0),
    ) -> None:
        self.registry = registry
        self.credentials = credentials
        self._session = session
        self._verify = verify
        self._timeout = timeout
        self._challenge: Challenge | None = None
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    def header_for(self, scope: str) -> str | None:
        """The header to send for ``scope`` now, fetching a token if one is due."""
        if self.credentials is not None and self.credentials.bearer_header():
            return self.credentials.bearer_header()
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            return self.credentials.basic_header() if self.credentials else None
        if challenge.scheme == "bearer":
            with self._lock:  # parallel uploads share one token per scope
                token = self._tokens.get(scope)
                if token is None or token.expires_at <= time.monotonic():
                    token = self._fetch_token(challenge, scope)
            return token.header
        return None

    def answer(self, header: str, scope: str) -> None:
        """Learn from a 401's challenge so the next try sends the right header.

        The caller tries again once; a second 401 means the credentials were refused.
        """
        challenge = Challenge.parse(header)
        if challenge.scheme not in ("basic", "bearer"):
            raise RegistryError(
                f"registry {self.registry}: unsupported authentication scheme {challenge.scheme!r}"
            )
        if challenge.scheme == "basic" and (
            self.credentials is None or self.credentials.basic_header() is None
        ):
            raise self.missing()
        self._tokens.pop(scope, None)
        self._challenge = challenge

    def refused(self) -> RegistryError:
        origin = self.credentials.origin if self.credentials else "no credentials"
        return RegistryError(
            f"registry {self.registry}: authentication failed: the registry refused the "
            f"credentials from {origin}"
        )

    def missing(self) -> RegistryError:
        return RegistryError(
            f"registry {self.registry}: authentication required and no credentials found",
            hint="add them to $DOCKER_CONFIG/config.json or CNB_REGISTRY_AUTH",
        )

    def _check_clear_text(self, realm: str) -> None:
        """Credentials go over plain HTTP only to a loopback host or one named insecure
        (--insecure-registry, CNBSDK_INSECURE_REGISTRIES): a token realm elsewhere is refused."""
        if not realm.startswith("http://"):
            return
        host = _host_of(realm)
        if is_loopback(host) or is_insecure(host, insecure_registries()):
            return
        raise RegistryError(
            f"registry {self.registry}: refusing to send credentials in clear text to the token "
            f"realm {host} (plain HTTP, neither loopback nor named in --insecure-registry)"
        )

    def _fetch_token(self, challenge: Challenge, scope: str) -> _Token:
        realm = challenge.params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise RegistryError(
                f"registry {self.registry}: Bearer challenge without a usable realm"
            )
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", part) for part in _split_scope(scope))
        headers = {}
        basic = self.credentials.basic_header() if self.credentials else None
        if basic:
            self._check_clear_text(realm)
            headers["Authorization"] = basic
        try:
            response = self._session.get(
                realm,
                params=params,
                headers=headers,
                timeout=self._timeout(),
                verify=self._verify,
                allow_redirects=False,
            )
        except requests.RequestException as error:
            raise RegistryError(
                f"registry {self.registry}: token request to {_host_of(realm)} failed: "
                f"{type(error).__name__}"
            ) from None
        with response:
            if response.status_code in (401, 403):
                raise self.refused() if basic else self.missing()
            if response.status_code != 200:
                raise RegistryError(
                    f"registry {self.registry}: token request to {_host_of(realm)} "
                    f"answered HTTP {response.status_code}"
                )
            try:
                body = response.json()
            except ValueError:
                body = None
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryError(
                f"registry {self.registry}: token response from {_host_of(realm)} has no token"
            )
        lifetime = body.get("expires_in") if isinstance(body, dict) else None
        if not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = _DEFAULT_TOKEN_LIFETIME
        expires_at = time.monotonic() + max(float(lifetime) - _EXPIRY_MARGIN, 1.0)
        register_secret(token)
        fetched = _Token(header=f"Bearer {token}", expires_at=expires_at)
        self._tokens[scope] = fetched
        return fetched


def _split_scope(scope: str) -> list[str]:
    """Our scope strings may name several repositories, separated by spaces (mounts)."""
    return [part for part in scope.split(" ") if part]


def _host_of(url: str) -> str:
    return normalize_registry(url)
