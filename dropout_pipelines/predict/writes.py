"""Save predictions: append the new rows and retire the previous latest, atomically.

Both happen in one transaction that first takes a per-course lock (a no-op UPDATE of the
course's row: a row lock on MySQL/MariaDB, the write lock on SQLite), so two runs on the
same course at the same time serialise their writes: each student keeps exactly one latest
serving row, and every run's rows stay in the history.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import insert_frame_params, insert_new_rows

PREDICTION_COLUMNS = (
    "user_id",
    "model_name",
    "model_version",
    "fail_risk_score",
    "risk_level",
    "purpose",
    "ab_arm",
    "snapshot_grade",
    "snapshot_completion_rate",
    "snapshot_week",
    "reasons",
)
INSERT_CHUNK_ROWS = 10_000


def lock_course(connection: sa.Connection, course_id: str, now: datetime) -> None:
    """Serialise writers of one course's predictions (see the module docstring)."""
    insert_new_rows(
        connection, s.courses, [{"course_id": course_id, "discovered_at": now}], "course_id"
    )
    courses = s.courses
    connection.execute(
        sa.update(courses)
        .where(courses.c.course_id == course_id)
        .values(course_id=courses.c.course_id)
    )


def score_and_save(
    engine: sa.Engine,
    course_id: str,
    score: Callable[[], pd.DataFrame],
    run_id: str,
    predicted_at: datetime,
    only_users: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Append the rows `score()` makes (PREDICTION_COLUMNS, `reasons` as JSON text); serving
    rows become the latest, the previous latest serving rows of the course (or of
    `only_users`) are retired in the same transaction, shadow rows are history only.
    Returns the rows and how many were saved.

    Retiring the previous latest rows does not depend on the new scores, so it is sent
    first and the database runs it (from a second thread, on this transaction's connection,
    which nothing else touches meanwhile) while this process scores: a course of 100,000
    students spends about a second on each. If scoring fails, the retire is rolled back
    with the rest of the transaction.
    """
    predictions = s.predictions
    retire = (
        sa.update(predictions)
        .where(predictions.c.course_id == course_id, predictions.c.latest_serving_slot == 1)
        .values(is_latest=False)
    )
    if only_users is not None:
        retire = retire.where(predictions.c.user_id.in_([int(u) for u in only_users]))
    with engine.begin() as connection:
        lock_course(connection, course_id, predicted_at)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retire-predictions") as pool:
            retiring = pool.submit(connection.execute, retire)
            try:
                rows = score()
            finally:
                retiring.result()
        sql, params = _insert_params(engine.dialect, course_id, rows, run_id, predicted_at)
        for start in range(0, len(params), INSERT_CHUNK_ROWS):
            connection.exec_driver_sql(sql, params[start : start + INSERT_CHUNK_ROWS])
    return rows, len(params)


def _insert_params(
    dialect: sa.Dialect,
    course_id: str,
    rows: pd.DataFrame,
    run_id: str,
    predicted_at: datetime,
) -> tuple[str, list[tuple] | list[dict]]:
    """The INSERT of `rows` into predictions; serving rows flagged latest."""
    frame = rows.loc[:, list(PREDICTION_COLUMNS)].assign(
        is_latest=rows["purpose"].eq("serving").to_numpy()
    )
    return insert_frame_params(
        dialect,
        s.predictions,
        frame,
        {"course_id": course_id, "run_id": run_id, "predicted_at": predicted_at},
        encoded={"reasons"},
    )
