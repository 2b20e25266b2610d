"""xAPI statements → rows: the fields the pipelines use, validated, plus vectorised parsing of
verbs, ISO 8601 durations and timestamps.

Statements come from Open edX event routing (course, video, problem activity) and from H5P
itself (scored attempts on H5P content, marked by the `h5p.org` library category and the
local-content-id extension). H5P also reports every sub-question of a container (question
set, interactive video) with a `subContentId`; those are not counted as H5P content
attempts, so a question set's score is not counted twice.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dropout_pipelines.distinct import per_distinct
from dropout_pipelines.ingest.clients import frame_schemas as frames
from dropout_pipelines.ingest.clients.actors import ActorResolver
from dropout_pipelines.ingest.clients.validate import NUMBER, need

COURSE_ACTIVITY_TYPE = "http://adlnet.gov/expapi/activities/course"
H5P_LOCAL_ID = "http://h5p.org/x-api/h5p-local-content-id"
H5P_SUBCONTENT_ID = "http://h5p.org/x-api/h5p-subContentId"
H5P_LIBRARY_PREFIX = "http://h5p.org/libraries/"

_NUMBER = r"(\d+(?:[.,]\d+)?)"
ISO_DURATION = (
    rf"^P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$"
)
# Seconds per unit; years and months have no exact length, xAPI tools use 365 d and 30 d.
DURATION_UNITS_S = (365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1)

Row = dict[str, Any]


def parse_durations(values: pd.Series) -> pd.Series:
    """ISO 8601 durations (`PT2M5.37S`, `PT125.37S`, `P1DT2H`) → seconds; NaN when absent
    or not a duration (a malformed optional field should not fail a whole course)."""
    return per_distinct(values, _parse_durations).astype("float64")


def _parse_durations(values: pd.Series) -> pd.Series:
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.upper()
    parts = text.str.extract(ISO_DURATION)
    seconds = pd.Series(0.0, index=values.index)
    found = pd.Series(False, index=values.index)
    for column, unit in zip(parts.columns, DURATION_UNITS_S, strict=True):
        amount = pd.to_numeric(parts[column].str.replace(",", ".", regex=False), errors="coerce")
        seconds = seconds + amount.fillna(0.0) * unit
        found = found | amount.notna()
    return seconds.where(found).astype("float64")


def verb_names(verbs: pd.Series) -> pd.Series:
    """The last path segment of verb IRIs (`…/verbs/completed` → `completed`)."""
    return per_distinct(verbs, lambda iris: iris.str.extract(r"([^/#]+)[/#]?$", expand=False))


# Decoded JSON objects are dicts: checking `dict` (not the `Mapping` ABC, an order of
# magnitude slower) matters at millions of statements.


def _context_groups(context: Any) -> dict:
    """`context.contextActivities`, or an empty dict."""
    groups = context.get("contextActivities") if isinstance(context, dict) else None
    return groups if isinstance(groups, dict) else {}


def _activities(groups: dict, kind: str) -> list[Any]:
    """One kind of context activities as a list (1.0.x allows a single object)."""
    value = groups.get(kind)
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else []


def _type_of(activity: Any) -> str | None:
    definition = activity.get("definition") if isinstance(activity, dict) else None
    kind = definition.get("type") if isinstance(definition, dict) else None
    return kind if isinstance(kind, str) else None


def _id_of(activity: Any) -> str | None:
    value = activity.get("id") if isinstance(activity, dict) else None
    return value if isinstance(value, str) else None


def course_activity_of(statement_object: Any, groups: dict, course_iri: str | None) -> str | None:
    """The course the statement belongs to: the requested course IRI where it appears
    (object, parent or grouping), else the first activity typed as a course, else the first
    parent/grouping activity. `groups` is the statement's `context.contextActivities`."""
    object_id = _id_of(statement_object)
    if course_iri is not None and object_id == course_iri:
        return course_iri
    related = _activities(groups, "parent") + _activities(groups, "grouping")
    ids = [_id_of(activity) for activity in related]
    if course_iri is not None and course_iri in ids:
        return course_iri
    candidates = [(statement_object, object_id), *zip(related, ids, strict=True)]
    for activity, activity_id in candidates:
        if activity_id and _type_of(activity) == COURSE_ACTIVITY_TYPE:
            return activity_id
    return next((activity_id for activity_id in ids if activity_id), None)


def is_h5p_content(statement_object: Any, groups: dict) -> bool:
    """H5P content itself (not one of its sub-questions); `groups` as above."""
    object_id = _id_of(statement_object) or ""
    definition = statement_object.get("definition") if isinstance(statement_object, dict) else None
    extensions = definition.get("extensions") if isinstance(definition, dict) else None
    extensions = extensions if isinstance(extensions, dict) else {}
    if H5P_SUBCONTENT_ID in extensions or "subContentId=" in object_id:
        return False
    library = any(
        (_id_of(category) or "").startswith(H5P_LIBRARY_PREFIX)
        for category in _activities(groups, "category")
    )
    return library or H5P_LOCAL_ID in extensions or "type@h5pxblock+" in object_id


def statement_row(
    statement: Any, where: str, resolver: ActorResolver, course_iri: str | None, endpoint: str
) -> Row:
    """One statement, validated: the fields the pipelines use (timestamps still strings)."""
    statement_id = need(statement, "id", str, endpoint, where)
    actor = need(statement, "actor", dict, endpoint, where)
    verb = need(statement, "verb", dict, endpoint, where)
    statement_object = need(statement, "object", dict, endpoint, where)
    context = need(statement, "context", dict, endpoint, where, optional=True)
    result = need(statement, "result", dict, endpoint, where, optional=True)
    groups = _context_groups(context)
    return {
        "statement_id": statement_id,
        "actor": resolver.resolve(actor),
        "verb": need(verb, "id", str, endpoint, f"{where}.verb"),
        "verb_name": None,
        "object_id": need(statement_object, "id", str, endpoint, f"{where}.object", optional=True),
        "object_type": _type_of(statement_object),
        "course_activity": course_activity_of(statement_object, groups, course_iri),
        **(_result_fields(result, endpoint, f"{where}.result") if result else NO_RESULT),
        "duration_s": None,
        "timestamp": need(statement, "timestamp", str, endpoint, where),
        "stored": need(statement, "stored", str, endpoint, where),
        "is_h5p": is_h5p_content(statement_object, groups),
    }


# Most statements (navigation, video, enrollment) carry no result at all.
NO_RESULT: Row = dict.fromkeys(
    ("score_raw", "score_max", "score_scaled", "completion", "success", "duration")
)


def _result_fields(result: dict, endpoint: str, where: str) -> Row:
    """The scored fields of a statement's `result`, validated."""
    score = need(result, "score", dict, endpoint, where, optional=True) or {}
    score_where = f"{where}.score"
    return {
        "score_raw": need(score, "raw", NUMBER, endpoint, score_where, optional=True),
        "score_max": need(score, "max", NUMBER, endpoint, score_where, optional=True),
        "score_scaled": need(score, "scaled", NUMBER, endpoint, score_where, optional=True),
        "completion": need(result, "completion", bool, endpoint, where, optional=True),
        "success": need(result, "success", bool, endpoint, where, optional=True),
        "duration": need(result, "duration", str, endpoint, where, optional=True),
    }


def statements_frame(rows: list[Row], endpoint: str) -> pd.DataFrame:
    """Rows → the fixed statements frame, parsing verbs, durations and timestamps at once."""
    frame = frames.build_frame(rows, frames.STATEMENTS, endpoint, "statements[*]")
    durations = pd.Series([row["duration"] for row in rows], index=frame.index, dtype=object)
    frame["verb_name"] = verb_names(frame["verb"]).astype(frames.STRING)
    frame["duration_s"] = parse_durations(durations)
    return frame


# Verb names (last IRI segment) by activity kind, from Open edX event routing's xAPI
# profile (navigation, video, problem, forum, enrollment) and H5P's own statements.
ENROLLMENT_VERBS = ("registered", "unregistered", "enrolled", "unenrolled")
VIDEO_VERBS = ("played", "paused", "seeked", "interacted-video", "completed-video")
PROBLEM_VERBS = ("answered", "attempted", "submitted", "scored", "evaluated")
FORUM_VERBS = ("posted", "replied", "commented", "responded", "voted", "liked")
NAVIGATION_VERBS = (
    "experienced", "viewed", "navigated", "accessed", "launched", "initialized", "opened",
    "browsed", "visited", "read", "terminated", "exited",
)  # fmt: skip


def activity_kinds(statements: pd.DataFrame) -> pd.Series:
    """The kind of every statement (`schema.ACTIVITY_KINDS`), vectorised: what the learner
    was doing, whatever the verb vocabulary of the emitting tool."""
    verb = statements["verb_name"]
    object_type = statements["object_type"]
    object_id = statements["object_id"]
    h5p = statements["is_h5p"].astype(bool) | _text_matches(object_id, "h5p|subcontentid=")
    video = _verb_in(verb, VIDEO_VERBS) | _text_matches(object_type, "video")
    forum = _verb_in(verb, FORUM_VERBS) | _text_matches(object_type, "discussion|forum|comment")
    problem = _verb_in(verb, PROBLEM_VERBS) | _text_matches(
        object_type, "question|interaction|assess"
    )
    kinds = pd.Series("other", index=statements.index, dtype=object)
    kinds[_verb_in(verb, NAVIGATION_VERBS)] = "navigation"
    kinds[problem] = "problem"
    kinds[forum] = "forum"
    kinds[video] = "video"
    kinds[h5p] = "h5p"
    kinds[_verb_in(verb, ENROLLMENT_VERBS)] = "enrollment"
    return kinds


def _lower_text(values: pd.Series) -> pd.Series:
    return values.fillna("").astype(str).str.lower()


def _verb_in(verbs: pd.Series, names: tuple[str, ...]) -> pd.Series:
    """Whether each verb name is one of `names`, whatever its case."""
    return per_distinct(verbs, lambda distinct: _lower_text(distinct).isin(names)).astype(bool)


def _text_matches(values: pd.Series, pattern: str) -> pd.Series:
    """Whether each value's lower-case text contains the regular expression `pattern`."""
    return per_distinct(
        values, lambda distinct: _lower_text(distinct).str.contains(pattern)
    ).astype(bool)
