"""Move `raw_data` into the V2 tables: set-based, in one transaction, once.

Every write of the migration happens in a single transaction that also inserts the
`legacy_migrations` marker. A crash (even SIGKILL) therefore leaves no trace and the rerun
starts from scratch; a completed migration is recognised by its marker and the rerun
changes nothing. No DDL runs inside (MySQL would commit implicitly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.migration.legacy_table import LegacyTable
from dropout_pipelines.migration.profile import SourceProfile, profile_source
from dropout_pipelines.migration.selects import (
    NEWEST_IDS_TABLE,
    LegacySelects,
    drop_temporary_table,
    drop_temporary_tables,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import insert_rows_skip_existing, insert_select_skip_existing
from dropout_pipelines.warehouse.course_keys import parse_course_key
from dropout_pipelines.warehouse.semesters import DEFAULT_SEMESTER_RULE, SemesterRule

Log = Callable[[str], None]


class MigrationError(RuntimeError):
    """The migration cannot proceed; nothing was written."""


@dataclass(frozen=True)
class MigrationSettings:
    model_name: str = "fm101_v4"
    model_version: str = "1"
    semesters: SemesterRule = DEFAULT_SEMESTER_RULE


@dataclass
class MigrationOutcome:
    already_migrated: bool
    profile: SourceProfile
    written: dict[str, int] = field(default_factory=dict)
    migrated_at: datetime | None = None


def _course_semesters(
    connection: sa.Connection, legacy: LegacyTable, rule: SemesterRule
) -> dict[str, str | None]:
    """Each course's semester: the most common raw_data.semester, else its key's run part.

    One grouped scan gives both the courses and their semesters (blank ones included, so a
    course whose rows all lack a semester is still listed)."""
    raw = legacy.table
    semesters: dict[str, str | None] = {}
    if legacy.has("semester"):
        counted = connection.execute(
            sa.select(raw.c.course_id, raw.c.semester, sa.func.count().label("n"))
            .group_by(raw.c.course_id, raw.c.semester)
            .order_by(raw.c.course_id, sa.desc("n"), raw.c.semester)
        ).all()
        for course_id, semester, _ in counted:
            given = semester.strip(" ") if semester is not None else ""
            if semesters.get(course_id) is None:
                semesters[course_id] = semester.strip() if given else None
    else:
        course_ids = connection.execute(sa.select(raw.c.course_id).distinct()).scalars()
        semesters = dict.fromkeys(course_ids)
    return {
        course_id: semester or rule.semester_for(course_id)
        for course_id, semester in semesters.items()
    }


def build_selects(
    connection: sa.Connection, legacy: LegacyTable, settings: MigrationSettings, now: datetime
) -> tuple[LegacySelects, dict[str, str | None]]:
    semesters = _course_semesters(connection, legacy, settings.semesters)
    selects = LegacySelects(
        legacy=legacy,
        semesters_by_course={course: sem for course, sem in semesters.items() if sem},
        migrated_at=now,
        model_name=settings.model_name,
        model_version=settings.model_version,
    )
    return selects, semesters


def find_marker(connection: sa.Connection, table_name: str) -> sa.Row | None:
    marker = s.legacy_migrations
    return connection.execute(
        sa.select(marker).where(marker.c.source_table == table_name)
    ).one_or_none()


def _has_latest_serving(connection: sa.Connection, course_ids: list[str]) -> bool:
    predictions = s.predictions
    return bool(
        connection.execute(
            sa.select(sa.func.count())
            .select_from(predictions)
            .where(predictions.c.latest_serving_slot == 1, predictions.c.course_id.in_(course_ids))
        ).scalar_one()
    )


def _latest_taken(scored: sa.FromClause) -> sa.ColumnElement:
    other = s.predictions.alias("already_latest")
    return sa.exists().where(
        other.c.user_id == scored.c.user_id,
        other.c.course_id == scored.c.course_id,
        other.c.latest_serving_slot == 1,
    )


def _write_courses(
    connection: sa.Connection, semesters: dict[str, str | None], now: datetime
) -> int:
    rows = [
        {
            "course_id": course_id,
            "org": parse_course_key(course_id).org,
            "semester": semester,
            "discovered_at": now,
        }
        for course_id, semester in sorted(semesters.items())
    ]
    return insert_rows_skip_existing(connection, s.courses, rows)


def _check_profile(profile: SourceProfile, table_name: str) -> None:
    if profile.scores_out_of_range:
        raise MigrationError(
            f"{profile.scores_out_of_range} rows of {table_name} have fail_risk_score outside "
            "0–100; fix or NULL them in the legacy table first (nothing was written)"
        )


def migrate_legacy(
    engine: sa.Engine,
    legacy: LegacyTable,
    settings: MigrationSettings,
    run_id: str,
    log: Log,
    now: datetime | None = None,
) -> MigrationOutcome:
    """Migrate `legacy` into the V2 tables, or recognise that it was migrated already."""
    now = (now or utc_now()).replace(microsecond=0)
    table_name = legacy.table.name
    with engine.begin() as connection:
        selects, semesters = build_selects(connection, legacy, settings, now)
        marker = find_marker(connection, table_name)
        if marker is not None:
            profile = profile_source(connection, selects)
            if marker.source_fingerprint != profile.fingerprint:
                raise MigrationError(
                    f"{table_name} changed since it was migrated at {marker.migrated_at} "
                    f"({marker.raw_rows} rows then, {profile.raw_rows} now): the V2 tables "
                    "were not touched; migrate the new rows through ingestion instead"
                )
            log(
                f"{table_name} was migrated at {marker.migrated_at} (run {marker.run_id}): "
                "nothing to do"
            )
            return MigrationOutcome(
                True, profile, dict(marker.summary.get("written", {})), marker.migrated_at
            )
        # The newest row per key is ranked first: the profile counts duplicates from it.
        selects = selects.with_course_numbers(connection)
        newest = selects.with_newest_ids(connection)
        profile = profile_source(connection, newest, count_training=False)
        _check_profile(profile, table_name)
        written = {"courses": _write_courses(connection, semesters, now)}
        log(f"courses: {written['courses']} new of {len(semesters)}")

        columns, select = newest.student_features()
        written["student_features"] = insert_select_skip_existing(
            connection, s.student_features, columns, select
        )
        log(
            f"student_features: {written['student_features']} rows "
            f"({profile.duplicate_rows} older duplicates folded)"
        )

        columns, select = newest.enrollments()
        written["enrollments"] = insert_select_skip_existing(
            connection, s.enrollments, columns, select
        )
        drop_temporary_table(connection, NEWEST_IDS_TABLE)
        log(f"enrollments: {written['enrollments']} rows")

        written["predictions"] = 0
        if legacy.has("fail_risk_score"):
            guard = _latest_taken if _has_latest_serving(connection, list(semesters)) else None
            columns, select = selects.predictions(latest_taken=guard)
            written["predictions"] = connection.execute(
                sa.insert(s.predictions).from_select(columns, select)
            ).rowcount
        log(f"predictions: {written['predictions']} legacy rows")

        written["training_data"] = 0
        if legacy.has("is_passed"):
            columns, select = selects.training_data()
            written["training_data"] = connection.execute(
                sa.insert(s.training_data).from_select(columns, select)
            ).rowcount
        log(f"training_data: {written['training_data']} legacy rows")
        profile = replace(profile, training_rows=written["training_data"])
        drop_temporary_tables(connection)

        connection.execute(
            sa.insert(s.legacy_migrations).values(
                source_table=table_name,
                source_fingerprint=profile.fingerprint,
                raw_rows=profile.raw_rows,
                summary={"written": written, "profile": profile.as_metadata()},
                run_id=run_id,
                migrated_at=now,
            )
        )
        log("committing the migration transaction")
    return MigrationOutcome(False, profile, written, now)
