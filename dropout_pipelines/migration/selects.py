"""The SELECTs that turn `raw_data` rows into V2 rows, built once with SQLAlchemy Core.

The migration feeds them to `INSERT … SELECT` (set-based, no row leaves the database) and
the verification aggregates over the very same SELECTs, so the rules of SPEC §4 are written
in one place:
- the newest row of a duplicated (user_id, course_id) wins (newest `updated_at`, then
  `created_at`, then `id`);
- every scored row is a prediction, the newest scored one per student and course latest;
- labelled rows give one training row per student, course and semester (the newest).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from dropout_pipelines.migration.legacy_table import LegacyTable
from dropout_pipelines.warehouse.legacy_schema import LEGACY_FEATURE_NAMES
from dropout_pipelines.warehouse.risk_levels import risk_level_sql
from dropout_pipelines.warehouse.schema import (
    LEGACY_RUN_ID,
    LEGACY_SOURCE,
)

UNKNOWN_SEMESTER = "unknown"
NEWEST_IDS_TABLE = "tmp_legacy_newest_ids"
COURSE_NUMBERS_TABLE = "tmp_legacy_course_numbers"

BOOLEAN_FEATURES: tuple[str, ...] = ("mooc_is_passed",)
# Feature columns copied as they are from raw_data into student_features (same name).
COPIED_FEATURES: tuple[str, ...] = tuple(
    name for name in LEGACY_FEATURE_NAMES if name not in BOOLEAN_FEATURES
)
LABELS: tuple[str, ...] = ("is_passed", "is_dropout")
# Legacy columns no training row is made of: who the student is (three wide text columns)
# and the old prediction. Left out of the labelled ranking, whose sort carries every
# column it keeps.
NOT_IN_TRAINING: tuple[str, ...] = (
    "username", "full_name", "email", "fail_risk_score", "risk_level", "predicted_at",
)  # fmt: skip
PREDICTION_SOURCE_COLUMNS: tuple[str, ...] = (
    "id",
    "user_id",
    "course_id",
    "fail_risk_score",
    "risk_level",
    "mooc_grade_percentage",
    "mooc_completion_rate",
    "predicted_at",
    "created_at",
    "updated_at",
)


def _col(source: sa.FromClause, name: str) -> sa.ColumnElement:
    return source.c[name] if name in source.c else sa.null()


def as_boolean(expression: sa.ColumnElement) -> sa.ColumnElement:
    """Legacy TINYINT flags (0, 1, sometimes 2 or -1) as a clean 0/1/NULL."""
    return sa.case((expression.is_(None), sa.null()), (expression != 0, 1), else_=0)


def _legacy_risk_level(source: sa.FromClause) -> sa.ColumnElement:
    """The level of the legacy score. A legacy label that contradicts its score (v1 wrote
    them separately) is re-levelled from the score, and counted in the report."""
    return risk_level_sql(source.c.fail_risk_score)


def contradicting_levels(source: sa.FromClause) -> sa.ColumnElement[bool] | None:
    """Scored legacy rows whose own label is missing, unknown or disagrees with the score."""
    if "risk_level" not in source.c or "fail_risk_score" not in source.c:
        return None
    label = sa.func.upper(sa.func.trim(source.c.risk_level))
    return sa.and_(
        source.c.fail_risk_score.is_not(None),
        sa.or_(label.is_(None), label != risk_level_sql(source.c.fail_risk_score)),
    )


@dataclass(frozen=True)
class LegacySelects:
    """Every SELECT of the migration for one legacy table layout and one run."""

    legacy: LegacyTable
    semesters_by_course: Mapping[str, str]
    migrated_at: datetime
    model_name: str
    model_version: str
    # The ids of the newest row per key, materialised once (`with_newest_ids`); None = rank
    # in each query.
    newest_ids: sa.Table | None = None
    # A small number per course id, materialised once (`with_course_numbers`); None = the
    # rankings partition by course_id itself.
    course_numbers: sa.Table | None = None

    # -- ranking ------------------------------------------------------------------------
    def _newest_first(self) -> list[sa.ColumnElement]:
        raw = self.legacy.table
        order = [raw.c[name].desc() for name in ("updated_at", "created_at", "id") if name in raw.c]
        return order or [raw.c.user_id]

    def _ranked(
        self,
        rank_name: str,
        *,
        where=None,
        partition_extra=(),
        columns: Sequence[str] = (),
        copies: bool = False,
    ) -> sa.Subquery:
        """Raw rows with a row_number per key (and with `copies` the key's row count); only
        `columns` (all when empty) go through the window's sort, so narrow callers sort
        narrow rows."""
        raw = self.legacy.table
        source, course_key = raw, raw.c.course_id
        if self.course_numbers is not None:
            numbers = self.course_numbers
            source = raw.outerjoin(numbers, numbers.c.course_id == raw.c.course_id)
            course_key = numbers.c.course_no
        partition = [raw.c.user_id, course_key, *partition_extra]
        rank = sa.func.row_number().over(partition_by=partition, order_by=self._newest_first())
        kept = [raw.c[name] for name in columns if name in raw.c] if columns else list(raw.c)
        select = sa.select(*kept, rank.label(rank_name)).select_from(source)
        if copies:
            # How many rows share the partition, from the same window pass (no extra sort).
            select = select.add_columns(
                sa.func.count().over(partition_by=partition).label("copies")
            )
        if where is not None:
            select = select.where(where)
        return select.subquery(rank_name)

    def resolved_semester(self, source: sa.FromClause) -> sa.ColumnElement:
        """raw_data.semester when set, else the course's semester, else 'unknown'."""
        by_course = (
            sa.case(dict(self.semesters_by_course), value=source.c.course_id, else_=None)
            if self.semesters_by_course
            else sa.null()
        )
        own = sa.func.nullif(sa.func.trim(_col(source, "semester")), "")
        return sa.func.coalesce(own, by_course, UNKNOWN_SEMESTER)

    def newest_per_key(self) -> sa.Subquery:
        """The newest raw row of each (user, course), with `key_rank` = 1 on every row kept."""
        if self.newest_ids is None:
            return self._ranked("key_rank")
        raw = self.legacy.table
        return (
            sa.select(*raw.c, sa.literal(1).label("key_rank"))
            .join(self.newest_ids, self.newest_ids.c.id == raw.c.id)
            .subquery("key_rank")
        )

    def with_course_numbers(self, connection: sa.Connection) -> LegacySelects:
        """These selects ranking by a small number per course instead of by `course_id`.

        MariaDB sorts a window's rows on fixed-width keys: with a VARCHAR(255) utf8mb4
        course id each key is over a kilobyte, and each of the three rankings of a million
        rows (newest per key, newest scored, newest labelled) took 8.9 s; by number, 5.6 s
        (numbering the courses: 1.2 s). The numbers come from `SELECT DISTINCT course_id`
        into a temporary table that copies the column's own type and collation, so two ids
        share a number exactly when the ranking by course_id would have put them together
        (case- or trailing-space-insensitive collations included); the outer join leaves a
        NULL course id in a partition of its own, as before. SQLite sorts the text quickly
        and keeps ranking by course_id. The table lives until `drop_temporary_tables`."""
        if connection.dialect.name == "sqlite":
            return self
        raw = self.legacy.table
        source = connection.dialect.identifier_preparer.format_table(raw)
        drop_temporary_table(connection, COURSE_NUMBERS_TABLE)
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {COURSE_NUMBERS_TABLE} "
            "(course_no INT NOT NULL AUTO_INCREMENT PRIMARY KEY) "
            f"SELECT DISTINCT course_id FROM {source}"
        )
        numbers = sa.Table(
            COURSE_NUMBERS_TABLE,
            sa.MetaData(),
            sa.Column("course_no", sa.Integer, primary_key=True),
            sa.Column("course_id", raw.c.course_id.type),
        )
        return replace(self, course_numbers=numbers)

    def with_newest_ids(self, connection: sa.Connection) -> LegacySelects:
        """These selects reading the newest row per key from a narrow temporary table.

        student_features and enrollments both take the newest row of each key. Ranked in
        each query, the database sorts the full-width legacy rows twice; ranked once over
        (id, key, order columns) into a table of ids, both queries join it by primary key.
        The same window counts each key's rows (`copies`), which is what the profile's
        duplicate figures are made of. Only when `id` is the legacy table's primary key
        (unique); else unchanged. The table lives as long as the connection (the
        migration's transaction)."""
        raw = self.legacy.table
        if "id" not in raw.c or not raw.c.id.primary_key:
            return self
        order = [name for name in ("updated_at", "created_at") if name in raw.c]
        ranked = self._ranked(
            "key_rank", columns=("id", "user_id", "course_id", *order), copies=True
        )
        newest = sa.Table(
            NEWEST_IDS_TABLE,
            sa.MetaData(),
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("copies", sa.Integer, nullable=False),
            prefixes=["TEMPORARY"],
        )
        drop_temporary_table(connection, NEWEST_IDS_TABLE)  # a pooled connection's earlier one
        newest.create(connection)
        connection.execute(
            sa.insert(newest).from_select(
                ["id", "copies"],
                sa.select(ranked.c.id, ranked.c.copies).where(ranked.c.key_rank == 1),
            )
        )
        return replace(self, newest_ids=newest)

    def scored_rows(self) -> sa.Subquery:
        """Scored rows, ranked; only the columns a prediction row is made of."""
        return self._ranked(
            "score_rank",
            where=self.legacy.table.c.fail_risk_score.is_not(None),
            columns=PREDICTION_SOURCE_COLUMNS,
        )

    def labelled_rows(self, columns: Sequence[str] = ()) -> sa.Subquery:
        raw = self.legacy.table
        semester = self.resolved_semester(raw)
        return self._ranked(
            "label_rank",
            where=raw.c.is_passed.is_not(None),
            partition_extra=(semester,),
            columns=columns,
        )

    def training_row_count(self) -> sa.Select:
        """How many training rows the labelled rows give (a narrow window: keys only)."""
        labelled = self.labelled_rows(columns=("id", "user_id", "course_id"))
        return sa.select(sa.func.count()).select_from(labelled).where(labelled.c.label_rank == 1)

    # -- shared column expressions --------------------------------------------------------
    def _first_of(self, source: sa.FromClause, *names: str) -> sa.ColumnElement:
        present = [source.c[name] for name in names if name in source.c]
        return sa.func.coalesce(*present, sa.literal(self.migrated_at, sa.DateTime))

    def _extra_features(self, source: sa.FromClause) -> sa.ColumnElement:
        if not self.legacy.extra:
            return sa.null()
        pairs = []
        for name in self.legacy.extra:
            pairs.extend([sa.literal(name), source.c[name]])
        return sa.func.json_object(*pairs)

    def feature_values(self, source: sa.FromClause) -> dict[str, sa.ColumnElement]:
        """student_features / training_data feature columns from a ranked legacy row."""
        values = {name: _col(source, name) for name in COPIED_FEATURES}
        for name in BOOLEAN_FEATURES:
            values[name] = as_boolean(_col(source, name)) if name in source.c else sa.null()
        total, maximum = _col(source, "h5p_total_score"), _col(source, "h5p_max_score")
        values["h5p_score_rate"] = sa.case((maximum > 0, total / maximum), else_=None)
        values["extra_features"] = self._extra_features(source)
        return values

    # -- the target SELECTs -------------------------------------------------------------
    def student_features(self) -> tuple[list[str], sa.Select]:
        ranked = self.newest_per_key()
        values = {
            "user_id": ranked.c.user_id,
            "course_id": ranked.c.course_id,
            **self.feature_values(ranked),
            "created_at": self._first_of(ranked, "created_at", "updated_at"),
            "updated_at": self._first_of(ranked, "updated_at", "created_at"),
        }
        return list(values), sa.select(*values.values()).where(ranked.c.key_rank == 1)

    def enrollments(self) -> tuple[list[str], sa.Select]:
        ranked = self.newest_per_key()
        values = {
            "user_id": ranked.c.user_id,
            "course_id": ranked.c.course_id,
            "username": _col(ranked, "username"),
            "full_name": _col(ranked, "full_name"),
            "email": _col(ranked, "email"),
            "fetched_at": self._first_of(ranked, "updated_at", "created_at"),
        }
        return list(values), sa.select(*values.values()).where(ranked.c.key_rank == 1)

    def predictions(
        self, *, latest_taken: sa.ColumnElement | None = None
    ) -> tuple[list[str], sa.Select]:
        """Every scored row; the newest per key is latest unless `latest_taken` says a
        serving prediction of that student is latest already (written before migration)."""
        scored = self.scored_rows()
        is_latest = scored.c.score_rank == 1
        if latest_taken is not None:
            is_latest = sa.and_(is_latest, ~latest_taken(scored))
        values = {
            "user_id": scored.c.user_id,
            "course_id": scored.c.course_id,
            "model_name": sa.literal(self.model_name),
            "model_version": sa.literal(self.model_version),
            "fail_risk_score": scored.c.fail_risk_score,
            "risk_level": _legacy_risk_level(scored),
            "is_latest": sa.case((is_latest, 1), else_=0),
            "purpose": sa.literal("serving"),
            "snapshot_grade": _col(scored, "mooc_grade_percentage"),
            "snapshot_completion_rate": _col(scored, "mooc_completion_rate"),
            "run_id": sa.literal(LEGACY_RUN_ID),
            "predicted_at": self._first_of(scored, "predicted_at", "updated_at", "created_at"),
        }
        return list(values), sa.select(*values.values())

    def training_data(self) -> tuple[list[str], sa.Select]:
        raw = self.legacy.table
        labelled = self.labelled_rows(
            columns=[column.name for column in raw.c if column.name not in NOT_IN_TRAINING]
        )
        values = {
            "user_id": labelled.c.user_id,
            "course_id": labelled.c.course_id,
            "semester": self.resolved_semester(labelled),
            **self.feature_values(labelled),
            "is_passed": as_boolean(labelled.c.is_passed),
            "is_dropout": as_boolean(_col(labelled, "is_dropout"))
            if "is_dropout" in labelled.c
            else sa.null(),
            "final_grade": _col(labelled, "final_grade"),
            "source": sa.literal(LEGACY_SOURCE),
            "created_at": self._first_of(labelled, "updated_at", "created_at"),
        }
        return list(values), sa.select(*values.values()).where(labelled.c.label_rank == 1)


def drop_temporary_table(connection: sa.Connection, name: str) -> None:
    """Drop one of the migration's temporary tables (it would outlive the transaction on a
    pooled connection); no implicit commit on MySQL/MariaDB (TEMPORARY)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{name}")
    else:
        connection.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {name}")


def drop_temporary_tables(connection: sa.Connection) -> None:
    """Drop the tables of `with_newest_ids` and `with_course_numbers`."""
    for name in (NEWEST_IDS_TABLE, COURSE_NUMBERS_TABLE):
        drop_temporary_table(connection, name)
