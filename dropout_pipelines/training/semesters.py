"""When is a semester closed? Every course of it has ended and its final grades were fetched
after the end: only then are the labels final, so only then may training data be built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.course_status import course_is_closed


@dataclass(frozen=True)
class SemesterStatus:
    courses: list[str]
    open_courses: list[str]

    @property
    def closed(self) -> bool:
        return bool(self.courses) and not self.open_courses


def semester_status(engine: sa.Engine, semester: str, now: datetime) -> SemesterStatus:
    """The semester's courses, and those not closed yet (not ended, or no final grades)."""
    courses = s.courses
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(courses.c.course_id, course_is_closed(now).label("closed"))
            .where(courses.c.semester == semester)
            .order_by(courses.c.course_id)
        ).all()
    return SemesterStatus(
        courses=[row.course_id for row in rows],
        open_courses=[row.course_id for row in rows if not row.closed],
    )


def closed_semesters(engine: sa.Engine, now: datetime) -> list[str]:
    """Semesters whose every course has ended and got its final grades after the end."""
    courses = s.courses
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                courses.c.semester,
                sa.func.count().label("courses"),
                sa.func.sum(sa.case((course_is_closed(now), 1), else_=0)).label("closed"),
            )
            .where(courses.c.semester.is_not(None))
            .group_by(courses.c.semester)
        ).all()
    return sorted(row.semester for row in rows if row.courses and row.closed == row.courses)
