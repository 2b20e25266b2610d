"""The warehouse tables' rows of one course, as frames, from what the Open edX and LRS
clients return: students keyed, names, grades and H5P attempts tidied the same way for
every page of statements (`fetch.py`, `digest.py`) and the course catalog (`assets.py`)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dropout_pipelines.features.grades import letter_for


def naive_datetime(value) -> datetime | None:
    """A pandas/ISO timestamp as a plain datetime (None for missing), for SQL parameters."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def user_id_map(enrollments: pd.DataFrame, accounts: pd.DataFrame, gradebook: pd.DataFrame):
    """username → user_id: the accounts API first, the gradebook for anyone it missed."""
    ids = accounts[["username", "user_id"]]
    from_grades = gradebook[["username", "user_id"]]
    known = pd.concat([ids, from_grades[~from_grades["username"].isin(ids["username"])]])
    return known.drop_duplicates("username")


def enrollment_frame(enrollments: pd.DataFrame, accounts: pd.DataFrame, ids: pd.DataFrame):
    frame = enrollments.merge(ids, on="username", how="inner").merge(
        accounts[["username", "name", "email"]], on="username", how="left"
    )
    return pd.DataFrame(
        {
            "user_id": frame["user_id"].astype("int64"),
            "username": frame["username"],
            "full_name": frame["name"],
            "email": frame["email"],
            "mode": frame["mode"],
            "is_active": frame["is_active"].astype(bool),
            "enrolled_at": frame["created"],
        }
    ).drop_duplicates("user_id")


def grades_frame(
    gradebook: pd.DataFrame,
    cutoffs: dict[str, float],
    threshold: float | None,
    decisions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The `mooc_grades` rows. `passed` is, by preference: Open edX's own decision
    (`decisions`: the course grades API, which follows the final grading policy, exams
    included), the gradebook's field (forks), else percent ≥ the lowest cutoff;
    `passed_source` says which (`open_edx`, `gradebook`, `cutoff`)."""
    percent = gradebook["percent"].astype(float)
    letters = gradebook["letter_grade"].where(
        gradebook["letter_grade"].notna(), letter_for(percent, cutoffs)
    )
    passed = gradebook["passed"].astype("boolean")
    source = pd.Series(None, index=gradebook.index, dtype=object).mask(passed.notna(), "gradebook")
    if decisions is not None and not decisions.empty:
        decided = gradebook["username"].map(decisions.set_index("username")["passed"])
        source = source.mask(decided.notna(), "open_edx")
        passed = decided.astype("boolean").where(decided.notna(), passed)
    if threshold is not None:
        by_cutoff = passed.isna()
        passed = passed.where(~by_cutoff, percent >= threshold)
        source = source.mask(by_cutoff, "cutoff")
    return pd.DataFrame(
        {
            "user_id": gradebook["user_id"].astype("int64"),
            "grade_percentage": (percent * 100).clip(0, 100),
            "letter_grade": letters,
            "passed": passed.astype("boolean"),
            "passed_source": source.where(passed.notna(), None),
            "section_breakdown": gradebook["section_breakdown"],
        }
    )


def h5p_frame(statements: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    h5p = statements[statements["is_h5p"] & statements["score_raw"].notna()]
    h5p = h5p.merge(ids, left_on="actor", right_on="username", how="inner")
    return pd.DataFrame(
        {
            "statement_id": h5p["statement_id"],
            "user_id": h5p["user_id"].astype("int64"),
            "content_id": h5p["object_id"],
            "score_raw": h5p["score_raw"],
            "score_max": h5p["score_max"],
            "completed": h5p["completion"],
            "success": h5p["success"],
            "duration_s": h5p["duration_s"],
            "occurred_at": h5p["timestamp"],
        }
    )


def activity_frame(statements: pd.DataFrame, ids: pd.DataFrame) -> pd.DataFrame:
    newest = statements.groupby("actor", as_index=False)["timestamp"].max()
    newest = newest.merge(ids, left_on="actor", right_on="username", how="inner")
    return newest.rename(columns={"timestamp": "last_activity_at"})[["user_id", "last_activity_at"]]
