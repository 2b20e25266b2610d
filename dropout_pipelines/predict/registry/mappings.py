"""Course mappings: which model (and shadow or A/B model) scores a course, how often."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.predict.registry.changes import (
    RegistryChange,
    RegistryError,
    parse_request,
    registry_row,
    stamp,
    unknown_model,
)
from dropout_pipelines.predict.registry.requests import MapCourseRequest
from dropout_pipelines.predict.selection import CLI, ModelRow, active_rows, newest_version
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import upsert_rows

MAPPING_UPDATE_COLUMNS = (
    "model_name",
    "model_version",
    "auto_predict",
    "predict_frequency",
    "shadow_model_name",
    "ab_model_name",
    "ab_share",
    "updated_at",
)


def _require_active(
    connection: sa.Connection,
    active: list[ModelRow],
    role: str,
    model_name: str,
    model_version: str | None,
) -> ModelRow:
    if model_version is not None:
        match = [
            row
            for row in active
            if row.model_name == model_name and row.model_version == model_version
        ]
        if match:
            return match[0]
        if registry_row(connection, model_name, model_version) is None:
            raise unknown_model(connection, model_name, model_version)
        raise RegistryError(
            f"{role} {model_name} version {model_version} is inactive: activate it "
            f"({CLI} activate {model_name} {model_version}) or choose an active model"
        )
    row = newest_version(active, model_name)
    if row is not None:
        return row
    r = s.model_registry
    registered = connection.execute(
        sa.select(sa.func.count()).select_from(r).where(r.c.model_name == model_name)
    ).scalar_one()
    if not registered:
        raise unknown_model(connection, model_name, None)
    raise RegistryError(f"{role} {model_name} has no active version: activate or register one")


def map_course(
    engine: sa.Engine,
    course_id: str,
    model_name: str,
    model_version: str | None = None,
    frequency: str = "daily",
    auto_predict: bool = True,
    shadow_model_name: str | None = None,
    ab_model_name: str | None = None,
    ab_share: float | None = None,
    *,
    now: datetime | None = None,
) -> RegistryChange:
    """Create or replace a course's mapping (`model_version` None = newest active version).

    The serving, shadow and A/B models must each have an active version now; the schedules
    read the mapping at every tick, so the change applies at the next one.
    """
    parse_request(
        MapCourseRequest,
        course_id=course_id,
        model_name=model_name,
        model_version=model_version,
        frequency=frequency,
        auto_predict=auto_predict,
        shadow_model_name=shadow_model_name,
        ab_model_name=ab_model_name,
        ab_share=ab_share,
    )
    m = s.course_model_mapping
    with engine.begin() as connection:
        active = active_rows(connection, [model_name, shadow_model_name, ab_model_name])
        serving = _require_active(connection, active, "model", model_name, model_version)
        if shadow_model_name is not None:
            _require_active(connection, active, "shadow model", shadow_model_name, None)
        if ab_model_name is not None:
            _require_active(connection, active, "A/B model", ab_model_name, None)
        previous = connection.execute(
            sa.select(m.c.model_name, m.c.model_version).where(m.c.course_id == course_id)
        ).one_or_none()
        known_course = connection.execute(
            sa.select(sa.func.count())
            .select_from(s.courses)
            .where(s.courses.c.course_id == course_id)
        ).scalar_one()
        upsert_rows(
            connection,
            m,
            [
                {
                    "course_id": course_id,
                    "model_name": model_name,
                    "model_version": model_version,
                    "auto_predict": auto_predict,
                    "predict_frequency": frequency,
                    "shadow_model_name": shadow_model_name,
                    "ab_model_name": ab_model_name,
                    "ab_share": float(ab_share) if ab_share is not None else None,
                    "updated_at": stamp(now),
                }
            ],
            key_columns=["course_id"],
            update_columns=MAPPING_UPDATE_COLUMNS,
        )
    pinned = model_version or f"newest active version, now {serving.model_version}"
    summary = (
        f"course {course_id} → {model_name} ({pinned}), {frequency}, "
        f"auto_predict={'on' if auto_predict else 'off'}"
    )
    if shadow_model_name:
        summary += f", shadow {shadow_model_name}"
    if ab_model_name:
        summary += f", A/B {ab_model_name} for {ab_share:.0%} of students"
    if previous is not None:
        summary += f" (was {previous.model_name} {previous.model_version or '(newest)'})"
    warnings = ()
    if not known_course:
        warnings = (
            f"course {course_id} is not in the courses table yet (never discovered or "
            "ingested): the mapping applies once it is",
        )
    return RegistryChange("map", summary, warnings)
