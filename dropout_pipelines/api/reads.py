"""The read API's queries: courses, a course's students (paged, sorted, searched), its
statistics, one student's detail and risk history, and the model comparison.

Every value reaches the database as a bound parameter; the only dynamic SQL is the ORDER BY,
chosen from a fixed map (`SORT_COLUMNS`), never from the request's text.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from dropout_pipelines.api.errors import Conflict, NotFound
from dropout_pipelines.api.shapes import (
    PLACEHOLDER_RISK,
    Course,
    CourseList,
    CourseStatistics,
    Feedback,
    ModelComparison,
    Prediction,
    RiskHistory,
    StudentDetail,
    StudentPage,
    StudentRow,
    StudentsQuery,
)
from dropout_pipelines.predict.comparison import compare_models, risk_timeline
from dropout_pipelines.predict.model_store import ModelStore
from dropout_pipelines.predict.selection import NoModelError
from dropout_pipelines.predict.service import latest_prediction, predict_student
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.risk_levels import risk_level
from dropout_pipelines.warehouse.sql_files import named_query
from dropout_pipelines.warehouse.text_search import fold_text, folded

PLACEHOLDER_LEVEL = risk_level(PLACEHOLDER_RISK)
LIKE_ESCAPE = "\\"


def _plain(value: Any) -> Any:
    """JSON-ready values: MySQL's DECIMAL aggregates as float, NaN as None."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _plain_row(row: Any) -> dict[str, Any]:
    return {key: _plain(value) for key, value in dict(row).items()}


def require_course(connection: sa.Connection, course_id: str) -> None:
    """404 unless the course is known (discovered, or with fetched features)."""
    known = connection.execute(
        sa.select(sa.literal(1)).where(
            sa.or_(
                sa.exists().where(s.courses.c.course_id == course_id),
                sa.exists().where(s.student_features.c.course_id == course_id),
            )
        )
    ).first()
    if known is None:
        raise NotFound(f"unknown course {course_id!r}: it is not in the warehouse yet")


def visible_courses(engine: sa.Engine) -> CourseList:
    with engine.connect() as connection:
        rows = connection.execute(named_query("visible_courses")).mappings().all()
    return CourseList(courses=[Course(**_plain_row(row)) for row in rows])


def _student_columns() -> dict[str, sa.ColumnElement]:
    sf, e, p = s.student_features, s.enrollments, s.predictions
    return {
        "user_id": sf.c.user_id,
        "username": e.c.username,
        "full_name": e.c.full_name,
        "email": e.c.email,
        "mooc_grade_percentage": sf.c.mooc_grade_percentage,
        "mooc_completion_rate": sf.c.mooc_completion_rate,
        "mooc_is_passed": sf.c.mooc_is_passed,
        "days_since_last_activity": sf.c.days_since_last_activity,
        "fail_risk_score": sa.func.coalesce(p.c.fail_risk_score, PLACEHOLDER_RISK),
        "risk_level": sa.func.coalesce(p.c.risk_level, PLACEHOLDER_LEVEL),
        "is_placeholder": sa.case((p.c.id.is_(None), 1), else_=0),
        "model_name": p.c.model_name,
        "model_version": p.c.model_version,
        "predicted_at": p.c.predicted_at,
    }


STUDENT_COLUMNS = _student_columns()
SORT_COLUMNS: dict[str, sa.ColumnElement] = {
    "risk": STUDENT_COLUMNS["fail_risk_score"],
    "name": sa.func.coalesce(s.enrollments.c.full_name, s.enrollments.c.username),
    "grade": s.student_features.c.mooc_grade_percentage,
    "completion": s.student_features.c.mooc_completion_rate,
    "last_activity": s.student_features.c.days_since_last_activity,
    "user_id": s.student_features.c.user_id,
}


def _like_pattern(text: str) -> str:
    """`%text%` with LIKE's own wildcards in `text` taken literally. `text` is already
    folded (lower case, no accents), as the column side is."""
    for special in (LIKE_ESCAPE, "%", "_"):  # the escape character itself first
        text = text.replace(special, LIKE_ESCAPE + special)
    return f"%{text}%"


def _students_source() -> sa.FromClause:
    sf, e, p = s.student_features, s.enrollments, s.predictions
    return sf.outerjoin(
        e, sa.and_(e.c.user_id == sf.c.user_id, e.c.course_id == sf.c.course_id)
    ).outerjoin(
        p,
        sa.and_(
            p.c.user_id == sf.c.user_id,
            p.c.course_id == sf.c.course_id,
            p.c.latest_serving_slot == 1,
        ),
    )


def _students_filters(course_id: str, query: StudentsQuery) -> list[sa.ColumnElement]:
    sf, e = s.student_features, s.enrollments
    filters: list[sa.ColumnElement] = [sf.c.course_id == course_id]
    if query.q and query.q.strip():
        text = query.q.strip()
        pattern = _like_pattern(fold_text(text))
        matches = [
            folded(column).like(pattern, escape=LIKE_ESCAPE)
            for column in (e.c.username, e.c.full_name, e.c.email)
        ]
        if text.isdigit():
            matches.append(sf.c.user_id == int(text))
        filters.append(sa.or_(*matches))
    if query.level is not None:
        filters.append(STUDENT_COLUMNS["risk_level"] == query.level)
    return filters


def students_select(course_id: str, query: StudentsQuery) -> sa.Select:
    """One page of a course's students with their latest serving prediction (placeholder
    when none)."""
    key = SORT_COLUMNS[query.sort]
    direction = key.desc() if query.order == "desc" else key.asc()
    return (
        sa.select(*(column.label(name) for name, column in STUDENT_COLUMNS.items()))
        .select_from(_students_source())
        .where(*_students_filters(course_id, query))
        .order_by(key.is_(None), direction, s.student_features.c.user_id)
        .limit(query.page_size)
        .offset((query.page - 1) * query.page_size)
    )


def students_count(course_id: str, query: StudentsQuery) -> sa.Select:
    """How many students match the query. Without a search or a level it counts the
    course's features alone (an index range); a window COUNT over the page's join tripled
    the page's cost, since it defeats the sort's LIMIT."""
    sf = s.student_features
    if not (query.q and query.q.strip()) and query.level is None:
        return sa.select(sa.func.count()).select_from(sf).where(sf.c.course_id == course_id)
    return (
        sa.select(sa.func.count())
        .select_from(_students_source())
        .where(*_students_filters(course_id, query))
    )


def students_page(engine: sa.Engine, course_id: str, query: StudentsQuery) -> StudentPage:
    with engine.connect() as connection:
        require_course(connection, course_id)
        rows = connection.execute(students_select(course_id, query)).mappings().all()
        total = connection.execute(students_count(course_id, query)).scalar_one()
    return StudentPage(
        course_id=course_id,
        total=total,
        page=query.page,
        page_size=query.page_size,
        sort=query.sort,
        order=query.order,
        students=[StudentRow(**_plain_row(row)) for row in rows],
    )


def course_statistics(engine: sa.Engine, course_id: str) -> CourseStatistics:
    with engine.connect() as connection:
        require_course(connection, course_id)
        row = _plain_row(
            connection.execute(named_query("course_statistics"), {"course_id": course_id})
            .mappings()
            .one()
        )
    return CourseStatistics(
        course_id=course_id,
        total_students=row["total_students"],
        avg_risk_score=row["avg_risk_score"],
        avg_grade=row["avg_grade"],
        high_risk_count=row["high_risk_count"],
        predicted_students=row["predicted_students"],
        level_counts={
            "LOW": row["low_level"],
            "MEDIUM": row["medium_level"],
            "HIGH": row["high_level"],
        },
    )


def _student_row(connection: sa.Connection, user_id: int, course_id: str) -> dict[str, Any]:
    sf, e = s.student_features, s.enrollments
    row = (
        connection.execute(
            sa.select(
                *(sf.c[name] for name in s.FEATURE_COLUMN_NAMES),
                e.c.username,
                e.c.full_name,
                e.c.email,
            )
            .select_from(
                sf.outerjoin(
                    e, sa.and_(e.c.user_id == sf.c.user_id, e.c.course_id == sf.c.course_id)
                )
            )
            .where(sf.c.user_id == user_id, sf.c.course_id == course_id)
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        raise NotFound(
            f"student {user_id} has no features in course {course_id!r}: not enrolled, or "
            "not fetched yet"
        )
    return _plain_row(row)


def _feedback(connection: sa.Connection, prediction_id: int) -> list[Feedback]:
    f = s.prediction_feedback
    rows = connection.execute(
        sa.select(f.c.useful, f.c.given_by, f.c.given_at)
        .where(f.c.prediction_id == prediction_id)
        .order_by(f.c.given_at, f.c.id)
    ).mappings()
    return [Feedback(**row) for row in rows]


def student_detail(
    engine: sa.Engine, user_id: int, course_id: str, now: datetime, store: ModelStore
) -> StudentDetail:
    """The student's features and latest serving prediction, made and saved now (with the
    course's auto-selected model) when there is none yet."""
    with engine.connect() as connection:
        require_course(connection, course_id)
        student = _student_row(connection, user_id, course_id)
    saved = latest_prediction(engine, user_id, course_id)
    predicted_now = saved is None
    if predicted_now:
        try:
            saved = predict_student(engine, user_id, course_id, now=now, store=store)
        except NoModelError as error:
            raise Conflict(str(error)) from error
    with engine.connect() as connection:
        feedback = _feedback(connection, saved["id"])
    identity = {key: student.pop(key) for key in ("username", "full_name", "email")}
    return StudentDetail(
        course_id=course_id,
        user_id=user_id,
        **identity,
        features=student,
        prediction=Prediction(**_plain_row(saved)),
        predicted_now=predicted_now,
        feedback=feedback,
    )


def risk_history(engine: sa.Engine, user_id: int, course_id: str) -> RiskHistory:
    with engine.connect() as connection:
        require_course(connection, course_id)
        _student_row(connection, user_id, course_id)
    points = [_plain_row(row) for row in risk_timeline(engine, user_id, course_id)]
    return RiskHistory(course_id=course_id, user_id=user_id, points=points)


def model_comparison(engine: sa.Engine, course_id: str) -> ModelComparison:
    with engine.connect() as connection:
        require_course(connection, course_id)
        feedback = (
            connection.execute(named_query("model_feedback"), {"course_id": course_id})
            .mappings()
            .all()
        )
    compared = compare_models(engine, course_id)
    return ModelComparison(**compared, feedback=[_plain_row(row) for row in feedback])
