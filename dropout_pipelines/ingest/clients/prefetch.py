"""The next page requested while the caller parses this one.

Reading a course's LRS history is a chain of requests, each waiting for a round trip, and
each page then costs the client as much CPU to parse as the wait. Without overlap the two
add up. `prefetched` runs the page generator one page ahead in a thread: still one request
at a time, in the same order (the server sees exactly what it saw before), but the wait for
page n + 1 happens while the caller parses page n.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
# How long a blocked producer waits before checking whether the caller went away.
_POLL_S = 0.1


def prefetched(pages: Iterator[T], name: str = "prefetch") -> Iterator[T]:
    """`pages`, produced one ahead in a daemon thread; the producer's exception is raised
    here, where the page it failed on would have been. If the caller stops early (an error
    while parsing, a `break`), the producer stops after at most the page it holds."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not offer(page):
                    return
            offer(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer as is
            offer(error)
        finally:
            close = getattr(pages, "close", None)
            if close is not None and stop.is_set():
                close()

    producer = threading.Thread(target=produce, name=name, daemon=True)
    producer.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                producer.join()
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # Not joined on an early exit: the producer may be inside a request (or its
        # back-off), and the caller's error should not wait for it; it drops what it
        # fetches and ends.
        stop.set()
