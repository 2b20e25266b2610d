"""The pagination envelopes Open edX list APIs use, over index arrays.

Three shapes exist upstream and clients must follow ``next`` whichever they get:

* DRF ``CursorPagination`` (enrollments, gradebook): ``{"next", "previous", "results"}``,
  with an opaque base64 ``cursor`` query parameter;
* edx-drf-extensions ``DefaultPagination`` (newer list APIs): ``{"count", "num_pages",
  "current_page", "start", "next", "previous", "results"}`` with ``page``;
* ``NamespacedPageNumberPagination`` (course list, completion aggregator):
  ``{"results", "pagination": {"next", "previous", "count", "num_pages"}}``.

Each function only computes the slice bounds and links, so serving a page is O(page).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request


class PageNotFound(Exception):
    """An invalid cursor or page number; DRF answers these with 404."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class PageSlice:
    """Which rows to serve and the links to the neighbouring pages."""

    start: int
    stop: int
    next: str | None
    previous: str | None
    count: int
    num_pages: int
    current_page: int


def _url_with(request: Request, **params: str | int | None) -> str:
    query = dict(request.query_params)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    url = request.url.replace(query=urlencode(query))
    return str(url)


def page_size_from(request: Request, default: int, maximum: int | None) -> int:
    """``page_size`` from the query string, falling back to the default on bad input (DRF)."""
    raw = request.query_params.get("page_size")
    try:
        size = int(raw) if raw is not None else default
    except ValueError:
        size = default
    if size <= 0:
        size = default
    return min(size, maximum) if maximum else size


def encode_cursor(offset: int) -> str:
    return base64.b64encode(urlencode({"o": offset}).encode()).decode()


def decode_cursor(token: str) -> int:
    try:
        fields = parse_qs(base64.b64decode(token.encode(), validate=True).decode())
        offset = int(fields["o"][0])
    except Exception:  # noqa: BLE001 - any malformed cursor is the same client error
        raise PageNotFound("Invalid cursor") from None
    if offset < 0:
        raise PageNotFound("Invalid cursor")
    return offset


def cursor_slice(request: Request, total: int, page_size: int) -> PageSlice:
    """Slice for DRF cursor pagination over ``total`` ordered rows."""
    token = request.query_params.get("cursor")
    start = decode_cursor(token) if token else 0
    stop = min(start + page_size, total)
    following = _url_with(request, cursor=encode_cursor(stop)) if stop < total else None
    previous = None
    if start > 0:
        back = max(0, start - page_size)
        previous = _url_with(request, cursor=encode_cursor(back) if back else None)
    pages = max(1, math.ceil(total / page_size))
    return PageSlice(start, stop, following, previous, total, pages, start // page_size + 1)


def number_slice(request: Request, total: int, page_size: int) -> PageSlice:
    """Slice for page-number pagination (``page`` starts at 1)."""
    pages = max(1, math.ceil(total / page_size))
    raw = request.query_params.get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        raise PageNotFound("Invalid page.") from None
    if page < 1 or page > pages:
        raise PageNotFound("Invalid page.")
    start = (page - 1) * page_size
    stop = min(start + page_size, total)
    following = _url_with(request, page=page + 1) if page < pages else None
    previous = None
    if page > 1:
        previous = _url_with(request, page=page - 1 if page > 2 else None)
    return PageSlice(start, stop, following, previous, total, pages, page)


def cursor_envelope(page: PageSlice, results: list, **extra: object) -> dict:
    return {"next": page.next, "previous": page.previous, "results": results, **extra}


def default_envelope(page: PageSlice, results: list, **extra: object) -> dict:
    return {
        "next": page.next,
        "previous": page.previous,
        "count": page.count,
        "num_pages": page.num_pages,
        "current_page": page.current_page,
        "start": page.start,
        "results": results,
        **extra,
    }


def namespaced_envelope(page: PageSlice, results: list) -> dict:
    return {
        "results": results,
        "pagination": {
            "next": page.next,
            "previous": page.previous,
            "count": page.count,
            "num_pages": page.num_pages,
        },
    }
