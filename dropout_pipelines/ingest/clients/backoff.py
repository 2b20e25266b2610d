"""How long to wait before retrying: the server's `Retry-After`, else exponential backoff.

Kept apart from the HTTP session so the arithmetic can be tested without a server and the
session reads as "send, decide, wait".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for transient failures.

    `max_retries` counts retries after the first attempt. Backoff doubles from
    `backoff_base_s` up to `backoff_max_s`, with jitter so parallel runs (one Dagster run per
    course partition) do not retry in lockstep. A server's `Retry-After` is honoured but
    capped at `retry_after_max_s`, so a misconfigured proxy cannot park a run for an hour.
    """

    max_retries: int = 5
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    retry_after_max_s: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must not be negative")

    @staticmethod
    def is_transient(status: int) -> bool:
        """429, 408 and server errors are worth another try; 501 never gets better."""
        return status in (408, 429) or (status >= 500 and status != 501)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (moment - now).total_seconds())


def backoff_delay(retry_number: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """Delay before retry `retry_number` (0-based): capped exponential with "equal jitter"
    (half fixed, half random), so waits grow but never collapse to zero."""
    ceiling = min(policy.backoff_max_s, policy.backoff_base_s * (2**retry_number))
    return ceiling / 2 + random() * ceiling / 2


def retry_delay(
    retry_number: int,
    retry_after: str | None,
    policy: RetryPolicy,
    random: Callable[[], float],
) -> float:
    """The wait before the next attempt: the server's word if it gave one, else backoff."""
    asked = parse_retry_after(retry_after)
    if asked is not None:
        return min(asked, policy.retry_after_max_s)
    return backoff_delay(retry_number, policy, random)
