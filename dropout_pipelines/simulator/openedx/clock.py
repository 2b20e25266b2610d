"""The simulator's clock: the simulated "now" every API answers as of.

The world is generated once over the whole of every course run; the clock only decides what
is visible (enrollments created by now, statements stored by now, grades from the events up
to now). It starts at midnight UTC of ``DataParams.today`` and only moves forward, so an
incremental client never sees data disappear. Moving it is O(1): the next request builds (or
reuses) the world's snapshot at the new now.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class ClockError(ValueError):
    """A move the clock refuses: backward, or not a moment."""


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC (the product's clock is naive UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_moment(text: str) -> datetime:
    """An ISO 8601 timestamp (``Z`` or an offset; naive means UTC) as an aware datetime."""
    try:
        return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise ClockError(f"not an ISO 8601 timestamp: {text!r}") from None


class SimulatorClock:
    """A forward-only simulated clock, to the millisecond, safe to move from any thread."""

    def __init__(self, start: datetime) -> None:
        self._now_ms = _to_ms(as_utc(start))
        self._lock = threading.Lock()

    @property
    def now_ms(self) -> int:
        return self._now_ms

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._now_ms / 1000, UTC)

    def advance(
        self, *, days: float = 0, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        """Move forward by the sum of the amounts; a negative total is refused."""
        step = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta(0):
            raise ClockError(f"the clock only moves forward (asked to move by {step})")
        with self._lock:
            self._now_ms += int(round(step.total_seconds() * 1000))
        return self.now

    def set(self, moment: datetime) -> datetime:
        """Move to ``moment`` (naive = UTC); a moment before now is refused."""
        target = _to_ms(as_utc(moment))
        with self._lock:
            if target < self._now_ms:
                raise ClockError(
                    f"the clock only moves forward: {_iso(target)} is before {_iso(self._now_ms)}"
                )
            self._now_ms = target
        return self.now


def _to_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def _iso(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_now(clock: SimulatorClock) -> str:
    """The clock's now as the control API reports it (``2026-11-29T00:00:00.000Z``)."""
    return _iso(clock.now_ms)
