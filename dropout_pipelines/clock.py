"""The product's one clock: UTC, naive (the warehouse stores naive UTC), injectable.

Every API timestamp is parsed as UTC, so "now" must be UTC too: a local-time clock on a
server not set to UTC shifts `days_since_last_activity`, the
"final grades fetched after the end" test and semester closing by the offset.

Tests move time in two ways:
- in process: `with frozen_clock(datetime(2026, 9, 1)):` (or `set_clock(callable)`);
- across processes (a run launched by the daemon): `DROPOUT_CLOCK_FILE` names a file that
  holds an ISO timestamp (UTC); while the variable is set, that file is "now". It is a test
  hook, never set in production.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE_ENV = "DROPOUT_CLOCK_FILE"

_override: Callable[[], datetime] | None = None


def _system_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_naive_utc(moment: datetime) -> datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already."""
    if moment.tzinfo is not None:
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _from_file(path: str) -> datetime:
    text = Path(path).read_text().strip()
    try:
        return as_naive_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError as error:
        raise RuntimeError(f"{CLOCK_FILE_ENV}={path} does not hold an ISO timestamp") from error


def utc_now() -> datetime:
    """Now, in naive UTC, to the microsecond."""
    if _override is not None:
        return as_naive_utc(_override())
    clock_file = os.environ.get(CLOCK_FILE_ENV)
    if clock_file:
        return _from_file(clock_file)
    return _system_utc()


def utc_now_s() -> datetime:
    """Now, in naive UTC, to the second: what rows are stamped with."""
    return utc_now().replace(microsecond=0)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock for this process (None restores the system's UTC clock)."""
    global _override
    _override = clock


@contextmanager
def frozen_clock(moment: datetime) -> Iterator[None]:
    """Within the block, `utc_now()` is `moment` (naive = UTC)."""
    previous = _override
    set_clock(lambda: moment)
    try:
        yield
    finally:
        set_clock(previous)
