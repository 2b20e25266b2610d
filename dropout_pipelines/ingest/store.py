"""Write one course's bundle: every table in one transaction.

A failure anywhere (a constraint, a lost connection, a kill) rolls the whole course back,
so the warehouse keeps the previous complete state of that course, never a mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.ingest.bundle import CourseBundle
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import (
    frame_records,
    insert_rows_skip_existing,
    upsert_rows,
)
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.schema import FEATURE_COLUMN_NAMES


@dataclass(frozen=True)
class WriteCounts:
    enrollments: int
    grades: int
    h5p_new: int
    features: int
    snapshots: int


def _upsert_course(connection: sa.Connection, bundle: CourseBundle) -> None:
    course = dict(bundle.course)
    ended = course.get("end_at") is not None and not pd.isna(course["end_at"])
    if ended and course["end_at"] <= bundle.fetched_at:
        # Grades fetched after the end are final: the semester sensor waits for this.
        course["final_grades_fetched_at"] = bundle.fetched_at
    update = [c for c in course if c not in ("course_id", "discovered_at")]
    upsert_rows(
        connection,
        s.courses,
        [course | {"discovered_at": bundle.fetched_at}],
        ["course_id"],
        update,
    )


def _with(frame: pd.DataFrame, **columns) -> list[dict]:
    return frame_records(frame.assign(**columns))


def write_course_bundle(engine: sa.Engine, bundle: CourseBundle) -> WriteCounts:
    """Upsert the course's tables in one transaction (schema created first if missing)."""
    create_schema(engine)
    course_id = bundle.course["course_id"]
    stamp = bundle.fetched_at
    features = bundle.features.assign(course_id=course_id)
    with engine.begin() as connection:
        _upsert_course(connection, bundle)
        enrollment_columns = [
            c for c in bundle.enrollments.columns if c not in ("user_id", "course_id")
        ]
        enrollments = upsert_rows(
            connection,
            s.enrollments,
            _with(bundle.enrollments, course_id=course_id, fetched_at=stamp),
            ["user_id", "course_id"],
            [*enrollment_columns, "fetched_at"],
        )
        grades = upsert_rows(
            connection,
            s.mooc_grades,
            _with(bundle.grades, course_id=course_id, fetched_at=stamp),
            ["user_id", "course_id"],
            ["grade_percentage", "letter_grade", "passed", "section_breakdown", "fetched_at"],
        )
        h5p_new = insert_rows_skip_existing(
            connection, s.h5p_results, _with(bundle.h5p, course_id=course_id)
        )
        feature_rows = upsert_rows(
            connection,
            s.student_features,
            _with(features, created_at=stamp, updated_at=stamp),
            ["user_id", "course_id"],
            [*FEATURE_COLUMN_NAMES, "updated_at"],
        )
        snapshots = 0
        if bundle.snapshot_week is not None:
            snapshots = upsert_rows(
                connection,
                s.feature_snapshots,
                _with(features, snapshot_week=bundle.snapshot_week, captured_at=stamp),
                ["user_id", "course_id", "snapshot_week"],
                [*FEATURE_COLUMN_NAMES, "captured_at"],
            )
    return WriteCounts(enrollments, grades, h5p_new, feature_rows, snapshots)
