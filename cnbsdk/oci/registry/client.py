"""The HTTP side of the distribution v2 API: one session per registry, auth, retries.

Every request goes through :meth:`RegistryClient.send`, which adds the right
``Authorization`` header and answers one 401 challenge; :meth:`RegistryClient.retrying`
repeats a whole operation with exponential backoff when the registry answers 5xx or 429 or
the connection drops, and gives up with a one-line :class:`RegistryError`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from cnbsdk import __version__
from cnbsdk.errors import RegistryError
from cnbsdk.oci.registry.address import tls_verify, uses_plain_http
from cnbsdk.oci.registry.auth import Authenticator, Credentials, load_credentials

log = logging.getLogger("cnbsdk.oci.registry")

T = TypeVar("T")

RETRIES_VARIABLE = "CNBSDK_REGISTRY_RETRIES"
# Connect timeout, then the longest silence tolerated while reading a response.
TIMEOUT = (30.0, 300.0)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failed operation is tried again."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 16.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        env = os.environ if environ is None else environ
        text = env.get(RETRIES_VARIABLE, "").strip()
        if not text:
            return cls()
        if not text.isdigit() or int(text) < 1:
            raise RegistryError(
                f"must be a whole number of attempts >= 1, not {text!r}", file=RETRIES_VARIABLE
            )
        return cls(attempts=int(text))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), with jitter."""
        delay = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return delay * random.uniform(0.75, 1.0)


class TransientError(Exception):
    """A failure worth trying again: 5xx, 429 or a dropped connection."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, then everything it wraps (causes, contexts, urllib3 reasons and args)."""
    queue: list[BaseException] = [error]
    seen: set[int] = set()
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = (current.__cause__, current.__context__, getattr(current, "reason", None))
        queue.extend(e for e in (*wrapped, *current.args) if isinstance(e, BaseException))


def describe_connection_error(error: BaseException) -> str:
    """A few words for a network failure, instead of urllib3's paragraph."""
    for cause in _causes(error):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the registry"
        if isinstance(cause, BrokenPipeError):
            return "connection closed by the registry"
        if isinstance(cause, TimeoutError):
            return "timed out"
        if isinstance(cause, OSError) and cause.errno == errno.EHOSTUNREACH:
            return "host unreachable"
        if "NameResolution" in type(cause).__name__:
            return "host name does not resolve"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "connection dropped while reading"
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return "connection dropped"


def registry_error_text(response: requests.Response) -> str:
    """``HTTP 400 (MANIFEST_BLOB_UNKNOWN: blob unknown to registry)`` from an error body."""
    text = f"HTTP {response.status_code}"
    try:
        errors = response.json().get("errors")
        first = errors[0]
        detail = f"{first.get('code', '')}: {first.get('message', '')}".strip(": ")
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        detail = ""
    return f"{text} ({detail})" if detail else text


def _redacted(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: ("<redacted>" if name.lower() in ("authorization", "proxy-authorization") else v)
        for name, v in headers.items()
    }


class RegistryClient:
    """A connection to one registry (``host[:port]``): base URL, session, auth, retries."""

    def __init__(
        self,
        registry: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool | None = None,
        ca_file: str | None = None,
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.registry = registry
        scheme = "http" if uses_plain_http(registry, insecure) else "https"
        self.base_url = f"{scheme}://{registry}"
        self.retry = retry or RetryPolicy.from_environment()
        self.session = session or requests.Session()
        self.session.trust_env = True
        # Passed with every request: requests would let REQUESTS_CA_BUNDLE override a
        # session-wide setting, and the CA the user named must win.
        self.verify = tls_verify(ca_file) if scheme == "https" else True
        self.session.headers["User-Agent"] = f"cnbsdk/{__version__}"
        # requests must not retry on its own: a retry here restarts a whole blob cleanly.
        adapter = requests.adapters.HTTPAdapter(max_retries=0, pool_maxsize=16)
        self.session.mount(f"{scheme}://", adapter)
        if credentials is None:
            credentials = load_credentials(registry)
        self.auth = Authenticator(registry, credentials, self.session, self.verify)

    def url(self, path: str) -> str:
        """A ``/v2/...`` path or a ``Location`` header (relative or absolute) as a URL."""
        if path.startswith(("http://", "https://")):
            return path
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def send(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        params: Mapping[str, str] | None = None,
        stream: bool = False,
        replayable: bool = True,
    ) -> requests.Response:
        """One request with credentials; raises TransientError for failures worth retrying.

        A 401 is answered once by learning the challenge and sending again — only when the
        body can be sent again (``replayable``); otherwise the caller restarts its operation.
        """
        url = self.url(path)
        for tried_auth in (False, True):
            request_headers = dict(headers or {})
            authorization = self.auth.header_for(scope)
            if authorization:
                request_headers["Authorization"] = authorization
            log.debug("%s %s %s", method, url, _redacted(request_headers))
            try:
                response = self.session.request(
                    method,
                    url,
                    headers=request_headers,
                    data=body,
                    params=params,
                    stream=stream,
                    allow_redirects=method == "GET",
                    timeout=TIMEOUT,
                    verify=self.verify,
                )
            except requests.exceptions.SSLError:
                raise RegistryError(
                    f"registry {self.registry}: TLS verification failed",
                    hint=f"give the CA with CNBSDK_REGISTRY_CA, or name {self.registry} "
                    "in --insecure-registry for plain HTTP",
                ) from None
            except (
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.Timeout,
            ) as error:
                raise TransientError(describe_connection_error(error)) from None
            log.debug("%s %s -> %s", method, url, response.status_code)
            if response.status_code != 401:
                break
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            if tried_auth or not challenge:
                raise self.auth.refused() if self.auth.credentials else self.auth.missing()
            self.auth.answer(challenge, scope)
            if not replayable:
                raise TransientError("authentication renewed")
        if response.status_code == 429 or response.status_code >= 500:
            reason = registry_error_text(response)
            retry_after = _retry_after(response.headers.get("Retry-After"))
            response.close()
            raise TransientError(reason, retry_after)
        if response.status_code == 403:
            response.close()
            raise RegistryError(f"registry {self.registry}: access denied ({method} {path})")
        return response

    def retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation`` until it stops raising TransientError, backing off between tries."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return operation()
            except TransientError as error:
                if attempt == self.retry.attempts:
                    tries = "once" if attempt == 1 else f"after {attempt} attempts"
                    raise RegistryError(
                        f"registry {self.registry}: {what} failed {tries}: {error.reason}"
                    ) from None
                delay = self.retry.delay(attempt)
                if error.retry_after is not None:
                    delay = max(delay, min(error.retry_after, self.retry.max_delay))
                log.info(
                    "registry %s: %s: %s; trying again in %.1fs",
                    self.registry,
                    what,
                    error.reason,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        ok: tuple[int, ...] = (200,),
        **options: Any,
    ) -> requests.Response:
        """``send`` with retries; statuses outside ``ok`` (and 404) become RegistryError."""

        def attempt() -> requests.Response:
            response = self.send(method, path, scope=scope, **options)
            if response.status_code not in ok and response.status_code != 404:
                text = registry_error_text(response)
                response.close()
                raise RegistryError(f"registry {self.registry}: {what} failed: {text}")
            return response

        return self.retrying(what, attempt)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.session.close()


def _retry_after(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return float(value.strip())
    return None
