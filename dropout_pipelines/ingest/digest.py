"""Fold a course's xAPI statements, a batch at a time, into what the warehouse keeps.

A refresh must cost what the new statements cost, not the course's whole history, and hold
a batch of statements in memory (`lrs.PARSE_BATCH`), not all of them. So statements are
never kept: each batch is reduced at once to
- scored H5P attempts (`h5p_results`) and scored problem submissions
  (`assessment_attempts`), one row per statement;
- the daily activity aggregates (student, UTC day, activity kind → statements, distinct
  activities, first and last moment) of `learner_activity_daily`;
- the first visit of each student to each activity (`learner_first_visits`);
- the LRS cursor: the newest `stored` seen and the ids stored inside the overlap window,
  so the next refresh can ask for `since = cursor − overlap` and skip what it already has.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

from dropout_pipelines.ingest.clients.xapi import activity_kinds
from dropout_pipelines.ingest.table_frames import h5p_frame

# Statements an LRS stores a little late (clock skew, batching) can carry a `stored` just
# before the cursor; asking again for this much before it catches them.
LRS_OVERLAP = timedelta(minutes=10)
# Partial aggregates are folded together once this many have piled up.
COMPACT_EVERY_ROWS = 200_000
CONTENT_KINDS = ("navigation", "video", "problem", "h5p")

# Students are keyed by their LRS actor while pages arrive (the roster may still be in
# flight) and mapped to user ids once, at the end.
DAILY_KEY = ["actor", "activity_day", "activity_kind"]
VISIT_KEY = ["actor", "activity_key"]
H5P_COLUMNS = [
    "statement_id", "actor", "object_id", "score_raw", "score_max", "completion", "success",
    "duration_s", "timestamp", "is_h5p",
]  # fmt: skip


@dataclass(frozen=True)
class LrsCursor:
    """Where the previous refresh of a course stopped reading the LRS."""

    last_stored: datetime | None = None
    overlap_ids: frozenset[str] = frozenset()
    statements_total: int = 0

    def since(self, overlap: timedelta = LRS_OVERLAP) -> datetime | None:
        return None if self.last_stored is None else self.last_stored - overlap


@dataclass
class DigestedStatements:
    """A refresh's new statements, reduced to the warehouse's shapes."""

    h5p: pd.DataFrame
    attempts: pd.DataFrame
    daily: pd.DataFrame
    first_visits: pd.DataFrame
    cursor: LrsCursor
    cursor_before: LrsCursor
    new_statements: int
    unknown_actors: int


def activity_key(object_ids: pd.Series) -> pd.Series:
    """sha1 of each activity IRI (IRIs are too long for a portable primary key); each
    distinct IRI is hashed once."""
    unique = pd.unique(object_ids.astype(object))
    keys = {iri: hashlib.sha1(str(iri).encode()).hexdigest() for iri in unique}
    return object_ids.astype(object).map(keys)


def _attempt_rows(page: pd.DataFrame) -> pd.DataFrame:
    scored = (
        page["activity_kind"].eq("problem")
        & page["verb_name"].astype(object).eq("answered")
        & page["score_raw"].notna()
        & page["object_id"].notna()
    )
    rows = page[scored]
    return pd.DataFrame(
        {
            "statement_id": rows["statement_id"],
            "actor": rows["actor"],
            "block_id": rows["object_id"],
            "score_raw": rows["score_raw"],
            "score_max": rows["score_max"],
            "occurred_at": rows["timestamp"],
        }
    )


def _daily_parts(page: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    days = page.assign(activity_day=page["timestamp"].dt.normalize())
    counts = days.groupby(DAILY_KEY, as_index=False).agg(
        statements=("statement_id", "size"),
        first_at=("timestamp", "min"),
        last_at=("timestamp", "max"),
    )
    visited = days.loc[days["object_id"].notna(), [*DAILY_KEY, "object_id"]].drop_duplicates()
    return counts, visited


def _first_visits(page: pd.DataFrame) -> pd.DataFrame:
    own = page["object_id"].notna() & (page["object_id"] != page["course_activity"])
    rows = page.loc[own, ["actor", "object_id", "activity_kind", "timestamp"]]
    rows = rows.assign(activity_key=activity_key(rows["object_id"]))
    return (
        rows.sort_values("timestamp")
        .drop_duplicates(VISIT_KEY, keep="first")
        .rename(columns={"timestamp": "first_at"})[
            ["actor", "activity_key", "activity_kind", "first_at"]
        ]
    )


def _fold_counts(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=[*DAILY_KEY, "statements", "first_at", "last_at"])
    return (
        pd.concat(parts, ignore_index=True)
        .groupby(DAILY_KEY, as_index=False)
        .agg(
            statements=("statements", "sum"),
            first_at=("first_at", "min"),
            last_at=("last_at", "max"),
        )
    )


def _fold_unique(parts: list[pd.DataFrame], key: list[str], order: str | None = None):
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True)
    if order is not None:
        frame = frame.sort_values(order)
    return frame.drop_duplicates(key, keep="first")


@dataclass
class StatementDigest:
    """Accumulates pages of one course's statements (oldest `stored` first).

    Statements whose id the cursor already holds (the overlap re-read) are skipped.
    `result(ids)` maps LRS actors (usernames) to user ids; statements of actors not
    enrolled are counted in `unknown_actors` and otherwise ignored.
    """

    cursor: LrsCursor = field(default_factory=LrsCursor)
    overlap: timedelta = LRS_OVERLAP
    _h5p: list[pd.DataFrame] = field(default_factory=list)
    _attempts: list[pd.DataFrame] = field(default_factory=list)
    _counts: list[pd.DataFrame] = field(default_factory=list)
    _visited: list[pd.DataFrame] = field(default_factory=list)
    _visits: list[pd.DataFrame] = field(default_factory=list)
    _tail: pd.DataFrame | None = None
    _pending_rows: int = 0
    new_statements: int = 0

    def add(self, page: pd.DataFrame) -> None:
        """Digest one batch of statements (a statements frame)."""
        if page.empty:
            return
        self._track_tail(page[["statement_id", "stored"]])
        fresh = page[~page["statement_id"].isin(self.cursor.overlap_ids)]
        self.new_statements += len(fresh)
        if fresh.empty:
            return
        known = fresh.assign(activity_kind=activity_kinds(fresh).to_numpy())
        self._h5p.append(known.loc[known["is_h5p"] & known["score_raw"].notna(), H5P_COLUMNS])
        self._attempts.append(_attempt_rows(known))
        counts, visited = _daily_parts(known)
        self._counts.append(counts)
        self._visited.append(visited)
        self._visits.append(_first_visits(known))
        self._pending_rows += len(counts) + len(visited)
        if self._pending_rows >= COMPACT_EVERY_ROWS:
            self._compact()

    def _track_tail(self, seen: pd.DataFrame) -> None:
        tail = seen if self._tail is None else pd.concat([self._tail, seen], ignore_index=True)
        newest = tail["stored"].max()
        self._tail = tail[tail["stored"] > newest - pd.Timedelta(self.overlap)]

    def fold(self) -> None:
        """Fold what was digested so far into one frame per aggregate (`result` does it
        otherwise), so a fetch can do it while its last requests are in flight."""
        self._compact()

    def _compact(self) -> None:
        if self._pending_rows == 0 and len(self._counts) <= 1:
            return  # folded already, nothing added since
        self._counts = [_fold_counts(self._counts)]
        self._visited = [_fold_unique(self._visited, [*DAILY_KEY, "object_id"])]
        self._visits = [_fold_unique(self._visits, VISIT_KEY, order="first_at")]
        self._pending_rows = 0

    def result(self, ids: pd.DataFrame) -> DigestedStatements:
        """Everything digested, folded and keyed by user id (`ids`: username, user_id);
        the new cursor."""
        self._compact()
        counts = self._counts[0] if self._counts else _fold_counts([])
        visited = self._visited[0] if self._visited else None
        distinct = (
            visited.groupby(DAILY_KEY).size().rename("distinct_activities").reset_index()
            if visited is not None
            else pd.DataFrame(columns=[*DAILY_KEY, "distinct_activities"])
        )
        daily = counts.merge(distinct, on=DAILY_KEY, how="left").fillna({"distinct_activities": 0})
        daily["activity_day"] = pd.to_datetime(daily["activity_day"]).dt.date
        visits = self._visits[0] if self._visits else None
        h5p = _concat_or_empty(self._h5p)
        unknown = ~counts["actor"].isin(ids["username"])
        return DigestedStatements(
            h5p=h5p_frame(h5p, ids) if not h5p.empty else pd.DataFrame(),
            attempts=_to_user_ids(_concat_or_empty(self._attempts), ids),
            daily=_to_user_ids(daily, ids),
            first_visits=_to_user_ids(visits, ids),
            cursor=self._next_cursor(),
            cursor_before=self.cursor,
            new_statements=self.new_statements,
            unknown_actors=int(counts.loc[unknown, "statements"].sum()),
        )

    def _next_cursor(self) -> LrsCursor:
        if self._tail is None or self._tail.empty:
            return LrsCursor(
                self.cursor.last_stored, self.cursor.overlap_ids, self.cursor.statements_total
            )
        newest = self._tail["stored"].max().to_pydatetime()
        return LrsCursor(
            last_stored=newest,
            overlap_ids=frozenset(self._tail["statement_id"]),
            statements_total=self.cursor.statements_total + self.new_statements,
        )


def _concat_or_empty(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if not part.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _to_user_ids(frame: pd.DataFrame | None, ids: pd.DataFrame) -> pd.DataFrame:
    """`actor` replaced by the enrolled student's `user_id`; other actors dropped."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    keyed = frame.merge(ids, left_on="actor", right_on="username", how="inner")
    keyed["user_id"] = keyed["user_id"].astype("int64")
    return keyed.drop(columns=["actor", "username"])
