"""The page prefetcher: same pages in the same order, one request ahead at most, the
producer's error raised where it happened, and a caller that stops early stops it."""

from __future__ import annotations

import threading
import time

import pytest

from dropout_pipelines.ingest.clients.prefetch import prefetched


class Pages:
    """A page source that records how far it has been asked to go."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.requested: list[int] = []
        self.closed = threading.Event()

    def __iter__(self):
        try:
            for number in range(self.count):
                if number == self.fail_at:
                    raise ValueError(f"page {number} is malformed")
                self.requested.append(number)
                yield number
        finally:
            self.closed.set()


def test_every_page_in_order_and_at_most_one_ahead():
    source = Pages(50)
    seen = []
    for page in prefetched(iter(source)):
        time.sleep(0.002)  # the caller parses: the producer must wait, not run away
        # The page in hand, the one in the hand-off queue and the one being requested.
        assert len(source.requested) <= page + 3
        seen.append(page)
    assert seen == list(range(50)) and source.requested == seen


def test_the_producers_error_is_raised_after_the_pages_before_it():
    seen = []
    with pytest.raises(ValueError, match="page 3 is malformed"):
        for page in prefetched(iter(Pages(10, fail_at=3))):
            seen.append(page)
    assert seen == [0, 1, 2]


def test_a_caller_that_stops_early_stops_the_producer():
    source = Pages(10_000)
    pages = prefetched(iter(source), name="early-stop")
    for page in pages:
        if page == 5:
            break
    pages.close()
    assert source.closed.wait(timeout=5)
    assert len(source.requested) <= 8
    deadline = time.monotonic() + 5
    while _running("early-stop") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _running("early-stop")


def _running(name: str) -> bool:
    return any(thread.name == name for thread in threading.enumerate())
