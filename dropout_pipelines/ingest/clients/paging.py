"""Reading Open edX list pages whatever their envelope.

edx-platform serves three envelopes and releases move APIs between them, so the clients never
assume one: DRF cursor (`{"next", "previous", "results"}`), edx-drf-extensions page numbers
(`{"count", "num_pages", "current_page", "next", ..., "results"}`) and the namespaced form of
the course list and completion aggregator (`{"results", "pagination": {"next", ...}}`).
"""

from __future__ import annotations

from typing import Any

from dropout_pipelines.ingest.clients.errors import PayloadError
from dropout_pipelines.ingest.clients.urls import with_query_param


def _keys(document: Any) -> str:
    if isinstance(document, dict):
        return ", ".join(sorted(document)) or "none"
    return type(document).__name__


def page_results(document: Any, endpoint: str, key: str = "results") -> list[dict]:
    """The records of one page; a page without a `results` list is a PayloadError."""
    if not isinstance(document, dict):
        raise PayloadError(endpoint, key, f"expected a page object, got {_keys(document)}")
    if key not in document:
        raise PayloadError(endpoint, key, f"missing (the page has keys: {_keys(document)})")
    rows = document[key]
    if not isinstance(rows, list):
        raise PayloadError(endpoint, key, f"expected a list, got {type(rows).__name__}")
    return rows


def next_page_url(document: dict, endpoint: str, current_url: str) -> str | None:
    """The next page's URL (possibly relative), None on the last page.

    `next` at the top level or under `pagination`; when an envelope gives page numbers but no
    link, the next page number is put into the current URL.
    """
    if "next" in document:
        link, where = document["next"], "next"
    elif isinstance(document.get("pagination"), dict):
        pagination = document["pagination"]
        link, where = pagination.get("next"), "pagination.next"
        if "next" not in pagination:
            return _numbered_next(pagination, current_url)
    else:
        return _numbered_next(document, current_url)
    if link is not None and not isinstance(link, str):
        raise PayloadError(endpoint, where, f"expected a URL or null, got {type(link).__name__}")
    return link or None


def _numbered_next(envelope: dict, current_url: str) -> str | None:
    current, pages = envelope.get("current_page"), envelope.get("num_pages")
    if isinstance(current, int) and isinstance(pages, int) and current < pages:
        return with_query_param(current_url, "page", current + 1)
    return None
