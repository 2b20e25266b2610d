"""Statements digested page by page: the incremental cursor, the overlap, the aggregates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dropout_pipelines.ingest.clients import frame_schemas as frames
from dropout_pipelines.ingest.clients.xapi import activity_kinds
from dropout_pipelines.ingest.digest import LRS_OVERLAP, LrsCursor, StatementDigest

COURSE_IRI = "http://lms/course/c1"
T0 = datetime(2026, 9, 7, 10, 0)
IDS = pd.DataFrame({"username": ["ann", "bob"], "user_id": [1, 2]})


def statement(sid: str, actor: str, verb: str, obj: str, when: datetime, **extra) -> dict:
    row = dict.fromkeys(frames.STATEMENTS)
    row |= {
        "statement_id": sid,
        "actor": actor,
        "verb": f"http://adlnet.gov/expapi/verbs/{verb}",
        "verb_name": verb,
        "object_id": obj,
        "course_activity": COURSE_IRI,
        "timestamp": when,
        "stored": extra.pop("stored", when),
        "is_h5p": False,
    }
    return row | extra


def page(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(frames.STATEMENTS))
    for column in ("score_raw", "score_max", "score_scaled", "duration_s"):
        frame[column] = frame[column].astype("float64")
    frame["is_h5p"] = frame["is_h5p"].astype(bool)
    for column in ("timestamp", "stored"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


FIRST = [
    statement("s1", "ann", "experienced", "http://lms/unit1", T0),
    statement("s2", "ann", "answered", "http://lms/p1", T0 + timedelta(minutes=5),
              score_raw=3.0, score_max=4.0, object_type="http://adlnet.gov/expapi/activities/question"),
    statement("s3", "bob", "played", "http://lms/video1", T0 + timedelta(hours=1),
              object_type="https://w3id.org/xapi/video/activity-type/video"),
    statement("s4", "ann", "experienced", "http://lms/unit1", T0 + timedelta(days=1)),
    statement("s5", "zed", "experienced", "http://lms/unit1", T0 + timedelta(days=1)),
]  # fmt: skip


def test_kinds_follow_verbs_and_activity_types():
    kinds = activity_kinds(
        page(
            [
                *FIRST,
                statement(
                    "h", "ann", "completed", "http://lms/xblock/h5pxblock+x", T0, is_h5p=True
                ),
                statement("f", "ann", "posted", "http://lms/forum/t1", T0),
                statement("r", "ann", "registered", COURSE_IRI, T0),
            ]
        )
    )
    assert list(kinds) == [
        "navigation", "problem", "video", "navigation", "navigation", "h5p", "forum", "enrollment",
    ]  # fmt: skip


def test_a_first_digest_aggregates_per_day_and_sets_the_cursor():
    digest = StatementDigest()
    digest.add(page(FIRST[:2]))
    digest.add(page(FIRST[2:]))
    result = digest.result(IDS)
    assert result.new_statements == 5 and result.unknown_actors == 1  # zed is not enrolled
    daily = result.daily.set_index(["user_id", "activity_day", "activity_kind"]).sort_index()
    assert daily.loc[(1, T0.date(), "navigation"), "statements"] == 1
    assert daily.loc[(1, (T0 + timedelta(days=1)).date(), "navigation"), "statements"] == 1
    assert daily.loc[(2, T0.date(), "video"), "distinct_activities"] == 1
    assert len(result.attempts) == 1 and result.attempts.iloc[0]["user_id"] == 1
    visits = result.first_visits.set_index("user_id")
    assert len(visits.loc[1]) == 2  # unit1 once (first visit kept), p1
    assert result.cursor.last_stored == T0 + timedelta(days=1)
    assert result.cursor.overlap_ids == {"s4", "s5"}  # stored within the overlap of the newest
    assert result.cursor.statements_total == 5


def test_the_overlap_is_read_again_but_counted_once():
    cursor = StatementDigest()
    for rows in (FIRST,):
        cursor.add(page(rows))
    first = cursor.result(IDS).cursor
    late = T0 + timedelta(days=1) - LRS_OVERLAP / 2  # stored late, inside the overlap
    again = StatementDigest(cursor=first)
    assert again.cursor.since() == first.last_stored - LRS_OVERLAP
    again.add(
        page(
            [
                FIRST[3],  # already counted: skipped
                statement("s6", "bob", "experienced", "http://lms/unit2", late, stored=late),
                statement("s7", "bob", "experienced", "http://lms/unit2", T0 + timedelta(days=2)),
            ]
        )
    )
    result = again.result(IDS)
    assert result.new_statements == 2
    assert int(result.daily["statements"].sum()) == 2
    assert result.cursor.last_stored == T0 + timedelta(days=2)
    assert result.cursor.statements_total == first.statements_total + 2


def test_nothing_new_keeps_the_cursor():
    cursor = LrsCursor(T0, frozenset({"s1"}), 10)
    digest = StatementDigest(cursor=cursor)
    digest.add(page([FIRST[0]]))  # only the overlap again
    result = digest.result(IDS)
    assert result.new_statements == 0 and result.daily.empty
    assert result.cursor.last_stored == T0 and result.cursor.statements_total == 10


def test_folding_early_gives_the_same_result():
    """A fetch folds the digest while its last requests are in flight; pages added after
    a fold, and folding twice, change nothing in the result."""
    plain, folded = StatementDigest(), StatementDigest()
    for digest in (plain, folded):
        digest.add(page(FIRST[:2]))
    folded.fold()
    for digest in (plain, folded):
        digest.add(page(FIRST[2:]))
    folded.fold()
    folded.fold()
    expected, got = plain.result(IDS), folded.result(IDS)
    for name in ("h5p", "attempts", "daily", "first_visits"):
        pd.testing.assert_frame_equal(
            getattr(got, name).reset_index(drop=True),
            getattr(expected, name).reset_index(drop=True),
        )
    assert got.cursor == expected.cursor and got.new_statements == expected.new_statements == 5
    assert len(got.daily) > 0 and len(got.first_visits) > 0
