"""The DataFrame contract of the clients: fixed columns and dtypes per method.

Downstream code (assets, features) is written against these schemas, so every frame is
built here, empty or not, with the same columns in the same order and the same dtypes.
Strings use pandas' default string dtype (`str` on pandas 3, `object` on pandas 2);
datetimes are naive UTC `datetime64[ns]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from dropout_pipelines.ingest.clients.errors import PayloadError

STRING = pd.Series(["x"]).dtype
DATETIME = "datetime64[ns]"

COURSES: dict[str, object] = {
    "course_id": STRING,
    "name": STRING,
    "org": STRING,
    "start": DATETIME,
    "end": DATETIME,
}
ENROLLMENTS: dict[str, object] = {
    "username": STRING,
    "course_id": STRING,
    "mode": STRING,
    "is_active": "bool",
    "created": DATETIME,
}
GRADEBOOK: dict[str, object] = {
    "user_id": "int64",
    "username": STRING,
    "email": STRING,
    "percent": "float64",
    "section_breakdown": "object",
    "letter_grade": "object",
    "passed": "object",
}
COURSE_GRADES: dict[str, object] = {
    "username": STRING,
    "percent": "float64",
    "passed": "bool",
}
OUTLINE: dict[str, object] = {
    "problem_id": STRING,
    "subsection_id": STRING,
    "assignment_type": "object",
    "due": DATETIME,
    "points": "float64",
}
POLICY: dict[str, object] = {
    "assignment_type": STRING,
    "weight": "float64",
    "drop_count": "int64",
    "min_count": "int64",
}
COMPLETION: dict[str, object] = {
    "username": STRING,
    "earned": "float64",
    "possible": "float64",
    "percent": "float64",
}
ACCOUNTS: dict[str, object] = {
    "username": STRING,
    "user_id": "int64",
    "name": STRING,
    "email": STRING,
}
STATEMENTS: dict[str, object] = {
    "statement_id": STRING,
    "actor": STRING,
    "verb": STRING,
    "verb_name": STRING,
    "object_id": STRING,
    "object_type": STRING,
    "course_activity": STRING,
    "score_raw": "float64",
    "score_max": "float64",
    "score_scaled": "float64",
    "completion": "object",
    "success": "object",
    "duration_s": "float64",
    "timestamp": DATETIME,
    "stored": DATETIME,
    "is_h5p": "bool",
}


def build_frame(
    records: Sequence[Mapping[str, object]],
    schema: Mapping[str, object],
    endpoint: str,
    where: str = "results[*]",
) -> pd.DataFrame:
    """A frame with exactly `schema`'s columns and dtypes.

    Datetime columns arrive as ISO 8601 strings and are parsed here (naive UTC); `endpoint`
    and `where` name the source in the PayloadError a bad timestamp raises.
    """
    rows = list(records)
    frame = pd.DataFrame.from_records(rows, columns=list(schema))
    for name, dtype in schema.items():
        if dtype == "object":  # as sent: lists, dicts, bools and None stay Python objects
            frame[name] = pd.Series(
                [row.get(name) for row in rows], index=frame.index, dtype=object
            )
        elif dtype == DATETIME:
            frame[name] = utc_naive(frame[name].astype(object), endpoint, f"{where}.{name}")
    plain = {name: dtype for name, dtype in schema.items() if dtype not in ("object", DATETIME)}
    return frame.astype(plain)


def utc_naive(values: pd.Series, endpoint: str, field: str) -> pd.Series:
    """ISO 8601 strings (any offset, `Z`, or none = UTC) → naive UTC `datetime64[ns]`.

    Missing values become NaT; a present value that does not parse is a PayloadError naming
    the first bad row, because a silently dropped date would shift features.
    """
    parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise PayloadError(
            endpoint,
            field.replace("[*]", f"[{position}]"),
            f"{values.iloc[position]!r} is not an ISO 8601 timestamp",
        )
    return parsed.dt.tz_convert(None).astype(DATETIME)


def empty_strings_to_na(values: pd.Series) -> pd.Series:
    """Blank strings as missing (edX sends `""` for e-mails it withholds)."""
    return values.where(values.fillna("").astype(str).str.len() > 0)
