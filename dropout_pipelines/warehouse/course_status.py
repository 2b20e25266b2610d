"""A course's life cycle as SQL: closed = ended, and final grades fetched after the end.

Closed courses are no longer refreshed (the predict schedules), and a semester whose every
course is closed can be trained on (its labels are final)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s


def course_is_closed(now: datetime) -> sa.ColumnElement[bool]:
    """The SQL predicate of a closed course as of `now`."""
    courses = s.courses
    return sa.and_(
        courses.c.end_at.is_not(None),
        courses.c.end_at <= now,
        courses.c.final_grades_fetched_at.is_not(None),
        courses.c.final_grades_fetched_at >= courses.c.end_at,
    )
