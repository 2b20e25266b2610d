"""The errors the ingestion clients raise, each saying what to do about it.

An asset that fails on Open edX or the LRS is read by a data engineer in the Dagster UI, so
every message names the endpoint (its path, never a query string or credentials) and the
action: which credential to renew, which right the account lacks, which field of which
payload is wrong. Messages never carry a secret's value; `redact` is the last line of
defence for text that comes from a server.
"""

from __future__ import annotations

from collections.abc import Iterable

OPENEDX_CLIENT_CREDENTIALS = "OPENEDX_CLIENT_ID/OPENEDX_CLIENT_SECRET"
OPENEDX_SESSION = "OPENEDX_SESSIONID"
LRS_CREDENTIALS = "LRS_USERNAME/LRS_PASSWORD"

REDACTED = "[redacted]"
DETAIL_LIMIT = 300


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every (non-trivial) secret value replaced, so a server echoing a
    credential back cannot leak it into a log or a Dagster failure message."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


def short(text: str, limit: int = DETAIL_LIMIT) -> str:
    """One line of at most `limit` characters (server error bodies can be whole HTML pages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class IngestError(Exception):
    """Base class: a fetch from Open edX or the LRS failed; `endpoint` is the URL path."""

    endpoint: str


class OpenEdxAuthError(IngestError):
    """401 that persists after one token refresh (or that no refresh can fix)."""

    def __init__(self, endpoint: str, credential: str, detail: str = "") -> None:
        self.endpoint = endpoint
        self.credential = credential
        self.detail = detail
        reason = f": {detail}" if detail else ""
        super().__init__(
            f"{endpoint} refused the credentials (HTTP 401){reason}. "
            f"Renew {credential} (the value is not shown here)."
        )

    def __reduce__(self) -> tuple:
        return (type(self), (self.endpoint, self.credential, self.detail))


class OpenEdxPermissionError(IngestError):
    """403: the credentials are valid but the account lacks a right."""

    def __init__(self, endpoint: str, resource: str, needs: str = "staff rights") -> None:
        self.endpoint = endpoint
        self.resource = resource
        self.needs = needs
        super().__init__(
            f"{endpoint} answered 403: the account needs {needs} on {resource} "
            "(grant it, or use credentials of an account that has it)."
        )

    def __reduce__(self) -> tuple:
        return (type(self), (self.endpoint, self.resource, self.needs))


class PayloadError(IngestError):
    """A body that is not the JSON the endpoint promises: not JSON at all (truncated), a
    missing envelope, a missing or wrongly typed field."""

    def __init__(self, endpoint: str, field: str, detail: str) -> None:
        self.endpoint = endpoint
        self.field = field
        self.detail = detail
        super().__init__(f"{endpoint} returned a malformed payload at '{field}': {detail}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.endpoint, self.field, self.detail))


class UpstreamError(IngestError):
    """Retries exhausted on 429 / 5xx / timeouts / connection errors."""

    def __init__(
        self, endpoint: str, attempts: int, last_status: int | None, last_error: str | None = None
    ) -> None:
        self.endpoint = endpoint
        self.attempts = attempts
        self.last_status = last_status
        self.last_error = last_error
        last = f"HTTP {last_status}" if last_status is not None else (last_error or "unknown")
        super().__init__(
            f"{endpoint} still failing after {attempts} attempts (last: {last}); "
            "the server is down, overloaded or too slow for the configured timeout."
        )

    def __reduce__(self) -> tuple:
        return (type(self), (self.endpoint, self.attempts, self.last_status, self.last_error))


class ApiRequestError(IngestError):
    """Another 4xx: the request itself is wrong (bad course id, unsupported parameter)."""

    def __init__(self, endpoint: str, status: int, detail: str = "") -> None:
        self.endpoint = endpoint
        self.status = status
        self.detail = detail
        reason = f": {detail}" if detail else ""
        super().__init__(f"{endpoint} rejected the request (HTTP {status}){reason}")

    def __reduce__(self) -> tuple:
        return (type(self), (self.endpoint, self.status, self.detail))


class NotFoundError(ApiRequestError):
    """404: an unknown course (or an endpoint this Open edX release does not have)."""
