"""A small JSON-over-HTTP session shared by the Open edX and LRS clients.

`requests.Session` plus what every fetch needs and nothing more: connect/read timeouts,
bounded retries with backoff for 429 / 5xx / timeouts / dropped connections (honouring
`Retry-After`), one credential refresh on 401, status codes mapped to the errors in
:mod:`dropout_pipelines.ingest.clients.errors`, bodies checked to be JSON, and a `FetchStats` the
assets turn into Dagster metadata. Sleeping and randomness are injectable so backoff can be
tested without waiting.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Self

import requests

from dropout_pipelines.ingest.clients.backoff import RetryPolicy, retry_delay
from dropout_pipelines.ingest.clients.errors import (
    ApiRequestError,
    NotFoundError,
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
    redact,
    short,
)
from dropout_pipelines.ingest.clients.urls import endpoint_of

PageCallback = Callable[[str, int, int], None]
"""`on_page(endpoint, page_number, records)`: progress after each page (e.g. a Dagster log)."""

Timeout = float | tuple[float, float]
TRANSIENT_ERRORS = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
)
USER_AGENT = "dropout-pipelines-ingest/1.0"
# DRF answers an unauthenticated request with 403 instead of 401 when the view's first
# authentication class sends no WWW-Authenticate challenge (session-first views).
UNAUTHENTICATED_HINTS = ("credentials were not provided", "not authenticated")


@dataclass
class FetchStats:
    """What a client did, for Dagster materialization metadata."""

    requests: int = 0
    pages: int = 0
    retries: int = 0
    seconds: float = 0.0
    bytes: int = 0

    def as_metadata(self) -> dict[str, int | float]:
        """Plain numbers, ready for `MaterializeResult(metadata=...)`."""
        values = asdict(self)
        values["seconds"] = round(self.seconds, 3)
        return values


class Authenticator(Protocol):
    """How a client proves who it is; the session asks it for headers on every request."""

    credential: str

    def headers(self) -> dict[str, str]:
        """Headers for the next request (may fetch a token first)."""
        ...

    def renew(self) -> bool:
        """After a 401: get fresh credentials; False when nothing can be renewed."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message."""
        ...


@dataclass(frozen=True)
class JsonResponse:
    """A decoded JSON body with the response headers (the LRS sends useful ones)."""

    document: Any
    headers: Mapping[str, str]
    url: str


class ApiSession:
    """Retrying JSON GETs (and the token POST) against one API.

    One instance per client; not thread-safe (a Dagster op fetches sequentially).
    """

    def __init__(
        self,
        *,
        timeout: Timeout = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_page: PageCallback | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.timeout = normalize_timeout(timeout)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.on_page = on_page
        self.rand = rand
        self.auth: Authenticator | None = None
        self.permission_needs = "staff rights"
        self.stats = FetchStats()
        self._depth = 0
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT
        self.http.headers["Accept"] = "application/json"

    # -- public --------------------------------------------------------------------------

    def get(
        self, url: str, params: Mapping[str, Any] | None = None, *, resource: str | None = None
    ) -> JsonResponse:
        """GET a JSON document with its headers; `resource` names what a 403 is about."""
        with self._timed():
            response = self._authenticated("GET", url, params, resource=resource)
            return JsonResponse(self._decode(response), response.headers, response.url)

    def get_json(
        self, url: str, params: Mapping[str, Any] | None = None, *, resource: str | None = None
    ) -> Any:
        """GET and decode; raises the errors module's exceptions on failure."""
        return self.get(url, params, resource=resource).document

    def post_form(
        self, url: str, form: Mapping[str, str], *, on_unauthorized: Callable[[str, str], Exception]
    ) -> Any:
        """POST a urlencoded form without the authenticator (the token request itself)."""
        with self._timed():
            response = self.send("POST", url, data=dict(form))
            if response.status_code in (400, 401):
                error = error_code(response)
                if response.status_code == 401 or error.startswith(("invalid_", "unauthorized")):
                    raise on_unauthorized(endpoint_of(url), error or f"HTTP {response.status_code}")
            self._raise_for_status(url, response, "the OAuth2 token endpoint")
            return self._decode(response)

    def page_done(self, endpoint: str, page_number: int, records: int) -> None:
        """Count a page and report progress."""
        self.stats.pages += 1
        if self.on_page is not None:
            self.on_page(endpoint, page_number, records)

    def close(self) -> None:
        self.http.close()

    # -- sending -------------------------------------------------------------------------

    @contextmanager
    def _timed(self) -> Iterator[None]:
        """Add wall time to the stats once, however calls nest (a GET that fetches a token)."""
        self._depth += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.stats.seconds += time.perf_counter() - started

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One logical request: retried on transient failures, else the final response."""
        endpoint = endpoint_of(url)
        retry_number = 0
        while True:
            self.stats.requests += 1
            last_status: int | None = None
            last_error: str | None = None
            retry_after: str | None = None
            try:
                response = self.http.request(
                    method, url, params=params, headers=headers, data=data, timeout=self.timeout
                )
            except requests.exceptions.SSLError:
                # A certificate problem does not go away by waiting.
                raise UpstreamError(endpoint, retry_number + 1, None, "SSLError") from None
            except TRANSIENT_ERRORS as error:
                # Only the class name: requests' messages repeat the URL and proxy details.
                last_error = type(error).__name__
            else:
                self.stats.bytes += len(response.content)
                if not self.retry.is_transient(response.status_code):
                    return response
                last_status = response.status_code
                retry_after = response.headers.get("Retry-After")
            if retry_number >= self.retry.max_retries:
                raise UpstreamError(endpoint, retry_number + 1, last_status, last_error)
            delay = retry_delay(retry_number, retry_after, self.retry, self.rand)
            self.stats.retries += 1
            retry_number += 1
            self.sleep(delay)

    def _authenticated(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        *,
        resource: str | None = None,
    ) -> requests.Response:
        """Send with credentials; on a 401 renew them once and try again, then give up."""
        renewed = False
        while True:
            headers = self.auth.headers() if self.auth else {}
            response = self.send(method, url, params=params, headers=headers)
            if not is_unauthenticated(response):
                break
            if renewed or self.auth is None or not self.auth.renew():
                raise self._auth_error(url, response)
            renewed = True
        self._raise_for_status(url, response, resource)
        return response

    # -- interpreting --------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        return self.auth.secrets() if self.auth else ()

    def _auth_error(self, url: str, response: requests.Response) -> OpenEdxAuthError:
        credential = self.auth.credential if self.auth else "the API credentials"
        detail = redact(short(error_text(response)), self._secrets())
        return OpenEdxAuthError(endpoint_of(url), credential, detail)

    def _raise_for_status(
        self, url: str, response: requests.Response, resource: str | None
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        endpoint = endpoint_of(url)
        if status == 403:
            raise OpenEdxPermissionError(endpoint, resource or endpoint, self.permission_needs)
        detail = redact(short(error_text(response)), self._secrets())
        if status == 404:
            raise NotFoundError(endpoint, status, detail)
        raise ApiRequestError(endpoint, status, detail)

    def _decode(self, response: requests.Response) -> Any:
        """The JSON body; a truncated or non-JSON body is a PayloadError naming the endpoint."""
        endpoint = endpoint_of(response.url)
        try:
            return json.loads(response.content)
        except ValueError as error:
            kind = response.headers.get("Content-Type", "no content type")
            raise PayloadError(
                endpoint,
                "body",
                f"not valid JSON ({len(response.content)} bytes of {kind}; {error_reason(error)})"
                " - a truncated response or an HTML error page",
            ) from None


def normalize_timeout(timeout: Timeout) -> tuple[float, float]:
    """(connect, read) seconds; a single number is the read timeout, connect at most 10 s."""
    if isinstance(timeout, tuple):
        return float(timeout[0]), float(timeout[1])
    return min(float(timeout), 10.0), float(timeout)


def error_text(response: requests.Response) -> str:
    """The human part of an error body (DRF `detail`, edX `developer_message`, OAuth `error`,
    xAPI `message`), else the start of the text."""
    try:
        body = json.loads(response.content)
    except ValueError:
        # An HTML error page says nothing useful in one line; plain text may.
        html = "html" in response.headers.get("Content-Type", "")
        return "" if html else response.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "developer_message", "error_description", "message", "error"):
            if isinstance(body.get(key), str):
                return body[key]
        return json.dumps(body)[:200]
    return json.dumps(body)[:200]


def error_code(response: requests.Response) -> str:
    """The OAuth2 `error` code of a token-endpoint answer, '' when there is none."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return ""
    value = body.get("error") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def is_unauthenticated(response: requests.Response) -> bool:
    """401, or DRF's 403 for "no (valid) credentials" on session-first views."""
    if response.status_code == 401:
        return True
    if response.status_code != 403:
        return False
    text = error_text(response).lower()
    return any(hint in text for hint in UNAUTHENTICATED_HINTS)


def error_reason(error: ValueError) -> str:
    """A JSON decoding error without the document text (which could be anything)."""
    if isinstance(error, json.JSONDecodeError):
        return f"{error.msg} at byte {error.pos}"
    return type(error).__name__


class SessionClient:
    """Shared plumbing of the API clients: one `ApiSession`, closed with the client."""

    _session: ApiSession

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    @property
    def stats(self) -> FetchStats:
        """Requests, pages, retries, seconds and bytes so far (for Dagster metadata)."""
        return self._session.stats
