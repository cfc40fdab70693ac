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
CONNECT_TIMEOUT_VARIABLE = "CNBSDK_REGISTRY_CONNECT_TIMEOUT"
READ_TIMEOUT_VARIABLE = "CNBSDK_REGISTRY_READ_TIMEOUT"
DEADLINE_VARIABLE = "CNBSDK_REGISTRY_DEADLINE"


@dataclass(frozen=True)
class Timeouts:
    """How long a registry may take, in seconds: to accept a connection, to stay silent
    while answering (each read), and in all for one operation with its retries."""

    connect: float = 10.0
    read: float = 60.0
    # One operation includes a whole blob transfer: an hour moves gigabytes on a slow link.
    deadline: float = 3600.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Timeouts:
        env = os.environ if environ is None else environ
        values = {}
        for key, name in (
            ("connect", CONNECT_TIMEOUT_VARIABLE),
            ("read", READ_TIMEOUT_VARIABLE),
            ("deadline", DEADLINE_VARIABLE),
        ):
            text = env.get(name, "").strip()
            if text:
                values[key] = _seconds(text, name)
        return cls(**values)


def _seconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:  # also refuses nan and inf
        raise RegistryError(
            f"must be a number of seconds above 0 and at most 86400, not {text[:40]!r}",
            file=name,
        )
    return value


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
        if not (text.isascii() and text.isdigit() and len(text) <= 3) or int(text) < 1:
            raise RegistryError(
                f"must be a whole number of attempts from 1 to 999, not {text[:40]!r}",
                file=RETRIES_VARIABLE,
            )
        return cls(attempts=int(text))

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based), with jitter."""
        delay = min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)
        return delay * random.uniform(0.75, 1.0)


class TransientError(Exception):
    """A failure worth trying again: 5xx, 429 or a dropped connection. A registry that
    stopped answering (a time-out) is not tried again: it would only wait as long again."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, worth_retrying: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.worth_retrying = worth_retrying


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
        timeouts: Timeouts | None = None,
    ) -> None:
        self.registry = registry
        self.timeouts = timeouts or Timeouts.from_environment()
        self._deadline_at: float | None = None
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
        self.auth = Authenticator(
            registry,
            credentials,
            self.session,
            self.verify,
            timeout=lambda: self.timeout(),
        )

    def timeout(self) -> tuple[float, float]:
        """(connect, read) time-outs for the next request, cut to the operation's deadline."""
        connect, read = self.timeouts.connect, self.timeouts.read
        if self._deadline_at is not None:
            left = max(self._deadline_at - time.monotonic(), 0.001)
            connect, read = min(connect, left), min(read, left)
        return connect, read

    def _silence(self) -> str:
        """Why a request timed out: the registry's silence, or the operation's deadline."""
        if self._deadline_at is not None and self._deadline_at - time.monotonic() < 0.5:
            return (
                f"stopped answering before the operation's {self.timeouts.deadline:g}s "
                f"deadline ({DEADLINE_VARIABLE})"
            )
        return (
            f"stopped answering (time-outs: {self.timeouts.connect:g}s to connect, "
            f"{self.timeouts.read:g}s to reply)"
        )

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
        if self._deadline_at is not None and time.monotonic() >= self._deadline_at:
            raise TransientError(
                f"its {self.timeouts.deadline:g}s deadline passed", worth_retrying=False
            )
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
                    timeout=self.timeout(),
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
                reason = describe_connection_error(error)
                if reason == "timed out":
                    raise TransientError(self._silence(), worth_retrying=False) from None
                raise TransientError(reason) from None
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
        """Run ``operation`` until it stops raising TransientError, backing off between tries,
        within the operation's deadline (``Timeouts.deadline``)."""
        outer = self._deadline_at
        if outer is None:
            self._deadline_at = time.monotonic() + self.timeouts.deadline
        try:
            return self._retrying(what, operation)
        finally:
            self._deadline_at = outer

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        assert self._deadline_at is not None
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return operation()
            except TransientError as error:
                delay = self.retry.delay(attempt)
                if error.retry_after is not None:
                    delay = max(delay, min(error.retry_after, self.retry.max_delay))
                out_of_time = time.monotonic() + delay >= self._deadline_at
                if attempt == self.retry.attempts or not error.worth_retrying or out_of_time:
                    tries = "once" if attempt == 1 else f"after {attempt} attempts"
                    if out_of_time and error.worth_retrying and attempt < self.retry.attempts:
                        tries += f" (its {self.timeouts.deadline:g}s deadline reached)"
                    raise RegistryError(
                        f"registry {self.registry}: {what} failed {tries}: {error.reason}"
                    ) from None
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
    text = (value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return float(text)
    return None
