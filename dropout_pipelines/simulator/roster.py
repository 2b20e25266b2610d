"""A course as the warehouse holds it after ingestion: the course row, enrollments with
Vietnamese names, and student_features, written in bulk.

What the read API's tests, browser test and load benchmark serve from: a 20,000-student
course in seconds, without replaying a term through the Open edX simulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.simulator.openedx.data import (
    EMAIL_DOMAIN,
    FAMILY_NAMES,
    GIVEN_NAMES,
    MIDDLE_NAMES,
    ascii_fold,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import execute_rows
from dropout_pipelines.warehouse.course_keys import parse_course_key


def roster(course_id: str, students: int, now: datetime, seed: int = 0, first_user_id: int = 1):
    """(enrollments, student_features) frames of one course: realistic spreads (many
    inactive learners, grades that follow completion), not a model's formula."""
    rng = np.random.default_rng(seed)
    user_ids = np.arange(first_user_id, first_user_id + students, dtype="int64")
    family = np.asarray(FAMILY_NAMES, dtype=object)[rng.integers(0, len(FAMILY_NAMES), students)]
    middle = np.asarray(MIDDLE_NAMES, dtype=object)[rng.integers(0, len(MIDDLE_NAMES), students)]
    given = np.asarray(GIVEN_NAMES, dtype=object)[rng.integers(0, len(GIVEN_NAMES), students)]
    full_names = pd.Series(family + " " + middle + " " + given)
    usernames = (
        pd.Series(given).map(ascii_fold) + "." + pd.Series(family).map(ascii_fold)
    ) + pd.Series(user_ids).astype(str)
    enrollments = pd.DataFrame(
        {
            "user_id": user_ids,
            "course_id": course_id,
            "username": usernames,
            "full_name": full_names,
            "email": usernames + "@" + EMAIL_DOMAIN,
            "mode": "audit",
            "is_active": True,
            "enrolled_at": now - timedelta(days=60),
            "fetched_at": now,
        }
    )
    engaged = rng.beta(0.8, 1.2, students)
    completion = np.clip(engaged + rng.normal(0, 0.08, students), 0, 1)
    grade = np.clip(completion * 100 * rng.uniform(0.5, 1.0, students), 0, 100)
    features = pd.DataFrame(
        {
            "user_id": user_ids,
            "course_id": course_id,
            "mooc_grade_percentage": grade.round(1),
            "mooc_completion_rate": completion.round(3),
            "mooc_is_passed": grade >= 50,
            "h5p_score_rate": np.clip(engaged + rng.normal(0, 0.1, students), 0, 1).round(3),
            "h5p_completion_rate": np.clip(engaged * 1.1, 0, 1).round(3),
            "days_since_last_activity": np.minimum(
                rng.exponential(3 + 30 * (1 - engaged)), 60
            ).astype("int64"),
            "week_of_course": 8,
            "created_at": now,
            "updated_at": now,
        }
    )
    return enrollments, features


def write_course(
    engine: sa.Engine,
    course_id: str,
    students: int,
    now: datetime,
    seed: int = 0,
    display_name: str | None = None,
    first_user_id: int = 1,
) -> pd.DataFrame:
    """The course, its enrollments and features in the warehouse; the enrollments frame."""
    enrollments, features = roster(course_id, students, now, seed, first_user_id)
    parsed = parse_course_key(course_id)
    course = {
        "course_id": course_id,
        "display_name": display_name or course_id,
        "org": parsed.org,
        "semester": parsed.run,
        "start_at": now - timedelta(days=56),
        "end_at": now + timedelta(days=28),
        "discovered_at": now,
    }
    with engine.begin() as connection:
        connection.execute(sa.insert(s.courses), [course])
        execute_rows(connection, sa.insert(s.enrollments), enrollments)
        execute_rows(connection, sa.insert(s.student_features), features)
    return enrollments
