"""`LrsClient`: a course's xAPI statements from any conformant Learning Record Store.

`GET {endpoint}/statements` with HTTP basic auth and `X-Experience-API-Version`, filtered by
the course activity with `related_activities=true` (so statements whose course appears only
in the context are included), oldest `stored` first, following `more` (a relative IRL that
excludes scheme, host and port, so it resolves against the LRS's origin). `since` is
exclusive, as the spec defines it, and makes incremental fetches possible.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from string import Formatter
from typing import Any
from urllib.parse import quote

import pandas as pd

from dropout_pipelines.ingest.clients.actors import ActorResolver
from dropout_pipelines.ingest.clients.backoff import RetryPolicy
from dropout_pipelines.ingest.clients.errors import LRS_CREDENTIALS, PayloadError
from dropout_pipelines.ingest.clients.http import (
    ApiSession,
    PageCallback,
    SessionClient,
    Timeout,
)
from dropout_pipelines.ingest.clients.paging import page_results
from dropout_pipelines.ingest.clients.prefetch import prefetched
from dropout_pipelines.ingest.clients.urls import endpoint_of, rebase_link, strip_userinfo
from dropout_pipelines.ingest.clients.xapi import statement_row, statements_frame

DEFAULT_COURSE_ACTIVITY_TEMPLATE = "{platform_url}/course/{course_id}"
TEMPLATE_FIELDS = ("platform_url", "course_id", "course_id_encoded")
VERSION_HEADER = "X-Experience-API-Version"
MAX_STORED = "max_stored"
# Statements are parsed this many (at least) at a time, whatever the LRS's page size: at the
# usual 100-500 a page, building and digesting a frame costs as much per call as per
# statement, and a course's history is thousands of pages (framing and digesting 223,133
# statements took 2.45 s 5,000 at a time, 2.07 s 10,000 at a time, means of two runs).
PARSE_BATCH = 10_000


class LrsBasicAuth:
    """HTTP basic credentials plus the xAPI version header every LRS request needs."""

    credential = LRS_CREDENTIALS

    def __init__(self, username: str, password: str, version: str) -> None:
        raw = f"{username}:{password}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode("ascii")
        self._password = password
        self._version = version

    def __repr__(self) -> str:
        return f"LrsBasicAuth(version={self._version!r})"

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._header, VERSION_HEADER: self._version}

    def renew(self) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self._password, self._header.partition(" ")[2])


def xapi_timestamp(moment: datetime) -> str:
    """A UTC xAPI timestamp with millisecond precision, rounded down (naive = UTC), so a
    `since` never skips a statement stored within the same millisecond."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    millis = moment.microsecond // 1000
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def naive_utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(None) if stamp.tzinfo is not None else stamp


class LrsClient(SessionClient):
    """Reads statements of one course at a time.

    `actor_id` chooses what identifies a learner in the `actor` column: `"username"`
    (`account.name` holds the username), `"email"` (`mbox`) or `"external_id"` (Open edX's
    default anonymous id, mapped to usernames through `external_ids`). The course activity
    IRI comes from `course_activity_template`; Open edX event routing uses
    `{LMS_ROOT_URL}/course/{course_id}`, so `platform_url` is the LMS root (the Open edX base
    URL), and `{course_id_encoded}` is available for LRSs fed by tools that encode it.
    """

    def __init__(
        self,
        endpoint: str,
        username: str,
        password: str,
        version: str = "1.0.3",
        actor_id: str = "username",
        external_ids: Mapping[str, str] | None = None,
        *,
        platform_url: str | None = None,
        course_activity_template: str = DEFAULT_COURSE_ACTIVITY_TEMPLATE,
        page_limit: int = 500,
        timeout: Timeout = 30.0,
        max_retries: int = 5,
        on_page: PageCallback | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not version.startswith("1.0"):
            raise ValueError(f"xAPI version must be 1.0.x, got {version!r}")
        _check_template(course_activity_template, platform_url)
        root = endpoint.rstrip("/")
        self.statements_url = root if root.endswith("/statements") else f"{root}/statements"
        self.platform_url = platform_url.rstrip("/") if platform_url else None
        self.course_activity_template = course_activity_template
        self.page_limit = page_limit
        self.resolver = ActorResolver(actor_id, external_ids)
        self._session = ApiSession(
            timeout=timeout,
            retry=retry or RetryPolicy(max_retries=max_retries),
            sleep=sleep,
            on_page=on_page,
        )
        self._session.auth = LrsBasicAuth(username, password, version)
        self._session.permission_needs = "read access to statements (statements/read scope)"

    def __repr__(self) -> str:
        return (
            f"LrsClient({strip_userinfo(self.statements_url)!r}, "
            f"actor_id={self.resolver.actor_id!r})"
        )

    @property
    def unmapped_actors(self) -> frozenset[str]:
        """External ids seen without a username in the map (to report, not to guess)."""
        return frozenset(self.resolver.unmapped)

    def course_activity_iri(self, course_id: str) -> str:
        """The activity id statements of this course carry (object, parent or grouping)."""
        return self.course_activity_template.format(
            platform_url=self.platform_url or "",
            course_id=course_id,
            course_id_encoded=quote(course_id, safe=":"),
        )

    def statements(
        self, course_id: str, since: datetime | None = None, until: datetime | None = None
    ) -> pd.DataFrame:
        """Every statement related to the course stored after `since` (exclusive) and up to
        `until` (inclusive), oldest first, as the fixed statements frame.

        `frame.attrs["max_stored"]` is the newest `stored` seen (or `since` when nothing new
        arrived): pass it as the next `since` to fetch incrementally.
        """
        endpoint = endpoint_of(self.statements_url)
        pages = list(self.statement_pages(course_id, since, until))
        frame = pd.concat(pages, ignore_index=True) if pages else statements_frame([], endpoint)
        newest = frame["stored"].max() if len(frame) else None
        frame.attrs[MAX_STORED] = (
            newest if newest is not None else (naive_utc(since) if since is not None else None)
        )
        return frame

    def statement_pages(
        self,
        course_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = PARSE_BATCH,
    ) -> Iterator[pd.DataFrame]:
        """The same statements a batch of pages at a time (oldest `stored` first, at least
        `batch` statements a frame but the last), so a caller can digest a course's history
        holding a few thousand statements in memory, not the whole of it."""
        iri = self.course_activity_iri(course_id)
        params: dict[str, Any] = {
            "activity": iri,
            "related_activities": "true",
            "ascending": "true",
            "limit": self.page_limit,
        }
        if since is not None:
            params["since"] = xapi_timestamp(since)
        if until is not None:
            params["until"] = xapi_timestamp(until)
        endpoint = endpoint_of(self.statements_url)
        offset = 0
        # The next batch's pages are requested while this one is parsed (still one request
        # at a time, in the same order).
        batches = batched(self._pages(params, iri), batch)
        for records in prefetched(batches, name=f"lrs-pages {course_id}"):
            rows = [
                statement_row(record, f"statements[{offset + i}]", self.resolver, iri, endpoint)
                for i, record in enumerate(records)
            ]
            offset += len(records)
            frame = statements_frame(rows, endpoint)
            if since is not None:  # the request's `since` was rounded down to the millisecond
                frame = frame[frame["stored"] > naive_utc(since)].reset_index(drop=True)
            yield frame

    def _pages(self, params: dict[str, Any], iri: str) -> Iterator[list[Any]]:
        """The statements of each page of the query, following `more` until it is empty."""
        url: str | None = self.statements_url
        endpoint = endpoint_of(self.statements_url)
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        page_number = 0
        while url:
            response = self._session.get(url, query, resource=f"the LRS ({iri})")
            if response.url in seen:
                raise PayloadError(endpoint, "more", "links back to a page already fetched")
            seen.add(response.url)
            page = page_results(response.document, endpoint, key="statements")
            page_number += 1
            self._session.page_done(endpoint, page_number, len(page))
            more = response.document.get("more")
            if more is not None and not isinstance(more, str):
                raise PayloadError(endpoint, "more", f"expected an IRL, got {type(more).__name__}")
            yield page
            url = rebase_link(more, self.statements_url) if more else None
            query = None


def batched(pages: Iterator[list[Any]], size: int) -> Iterator[list[Any]]:
    """The pages' records joined into lists of at least `size` (the last one may be
    shorter; one empty list when there is nothing at all)."""
    batch: list[Any] = []
    sent = False
    for page in pages:
        batch.extend(page)
        if len(batch) >= size:
            yield batch
            batch, sent = [], True
    if batch or not sent:
        yield batch


def max_stored(frame: pd.DataFrame) -> pd.Timestamp | None:
    """The incremental cursor `LrsClient.statements` left on its frame."""
    return frame.attrs.get(MAX_STORED)


def _check_template(template: str, platform_url: str | None) -> None:
    """Refuse a template with unknown placeholders, or one needing a missing platform URL."""
    names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
    unknown = names - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValueError(
            f"course_activity_template has unknown placeholders {sorted(unknown)}; "
            f"allowed: {TEMPLATE_FIELDS}"
        )
    if "platform_url" in names and not platform_url:
        raise ValueError(
            "course_activity_template uses {platform_url}: set platform_url to the LMS root "
            "URL (OPENEDX_BASE_URL), as event routing writes it into activity IRIs"
        )
