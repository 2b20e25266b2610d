"""Verify a migration: per-rule row counts and per-column checksums, raw_data vs V2.

Each check aggregates the legacy side (the ranked raw rows a rule reads) and the V2 side
(the rows that rule wrote) with the same functions — COUNT of non-null values, SUM of
numeric columns, SUM of lengths for text — so any row or value lost or altered shows up.
`student_features` is mutable: once ingestion has refreshed a student, the legacy values
are gone on purpose, so a rerun after ingestion checks that table's keys, not its values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import sqlalchemy as sa

from dropout_pipelines.migration.selects import (
    BOOLEAN_FEATURES,
    COPIED_FEATURES,
    LEGACY_RUN_ID,
    LegacySelects,
    as_boolean,
)
from dropout_pipelines.warehouse import schema as s

RELATIVE_TOLERANCE = 1e-9
TEXT_COLUMNS = {"mooc_letter_grade", "username", "full_name", "email"}


@dataclass(frozen=True)
class Check:
    rule: str
    measure: str
    legacy: float
    v2: float

    @property
    def ok(self) -> bool:
        return math.isclose(self.legacy, self.v2, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-6)

    def as_row(self) -> dict:
        return asdict(self) | {"ok": self.ok}


def _sum(expression: sa.ColumnElement) -> sa.ColumnElement:
    """SUM read back as a number whatever the column's type (a boolean sum is a count)."""
    return sa.func.sum(expression, type_=sa.Float)


def _column_measures(
    source: sa.FromClause, target: sa.FromClause, names: list[str], booleans=()
) -> list[tuple[str, sa.ColumnElement, sa.ColumnElement]]:
    """(measure, legacy aggregate, V2 aggregate) for each column present on the legacy side."""
    measures = []
    for name in names:
        if name not in source.c:
            continue
        legacy, v2 = source.c[name], target.c[name]
        measures.append((f"non-null {name}", sa.func.count(legacy), sa.func.count(v2)))
        if name in booleans:
            measures.append((f"sum {name}", _sum(as_boolean(legacy)), _sum(v2)))
        elif name in TEXT_COLUMNS:
            measures.append(
                (
                    f"length {name}",
                    _sum(sa.func.length(legacy)),
                    _sum(sa.func.length(v2)),
                )
            )
        else:
            measures.append((f"sum {name}", _sum(legacy), _sum(v2)))
    return measures


def _run_checks(
    connection: sa.Connection,
    rule: str,
    source: sa.Select,
    target: sa.Select,
    measures: list[tuple[str, sa.ColumnElement, sa.ColumnElement]],
) -> list[Check]:
    legacy_values = connection.execute(source.with_only_columns(*(m[1] for m in measures))).one()
    v2_values = connection.execute(target.with_only_columns(*(m[2] for m in measures))).one()
    return [
        Check(rule, measure, float(legacy or 0), float(v2 or 0))
        for (measure, _, _), legacy, v2 in zip(measures, legacy_values, v2_values, strict=True)
    ]


def _rows_of_legacy_keys(selects: LegacySelects, table: sa.Table) -> sa.Select:
    """The rows of `table` whose key is in raw_data: a join into the table's primary key
    (a correlated EXISTS would scan the unindexed raw_data once per row)."""
    raw = selects.legacy.table
    keys = sa.select(raw.c.user_id, raw.c.course_id).distinct().subquery("legacy_keys")
    joined = keys.join(
        table, sa.and_(table.c.user_id == keys.c.user_id, table.c.course_id == keys.c.course_id)
    )
    return sa.select(sa.literal(1)).select_from(joined)


def _keyed_checks(
    connection: sa.Connection,
    selects: LegacySelects,
    table: sa.Table,
    columns: list[str],
    *,
    values_too: bool,
) -> list[Check]:
    newest = selects.newest_per_key()
    source = sa.select(sa.literal(1)).select_from(newest).where(newest.c.key_rank == 1)
    target = _rows_of_legacy_keys(selects, table)
    measures = [("rows", sa.func.count(), sa.func.count())]
    if values_too:
        measures += _column_measures(newest, table, columns, BOOLEAN_FEATURES)
    return _run_checks(connection, table.name, source, target, measures)


def _prediction_checks(connection: sa.Connection, selects: LegacySelects) -> list[Check]:
    if not selects.legacy.has("fail_risk_score"):
        return []
    scored = selects.scored_rows()
    predictions = s.predictions
    source = sa.select(sa.literal(1)).select_from(scored)
    target = (
        sa.select(sa.literal(1))
        .select_from(predictions)
        .where(predictions.c.run_id == LEGACY_RUN_ID)
    )
    measures = [
        ("rows", sa.func.count(), sa.func.count()),
        (
            "sum fail_risk_score",
            _sum(scored.c.fail_risk_score),
            _sum(predictions.c.fail_risk_score),
        ),
        (
            "latest (one per scored student)",
            _sum(sa.case((scored.c.score_rank == 1, 1), else_=0)),
            _sum(sa.case((predictions.c.is_latest.is_(True), 1), else_=0)),
        ),
    ]
    return _run_checks(connection, "predictions", source, target, measures)


def _training_checks(connection: sa.Connection, selects: LegacySelects) -> list[Check]:
    if not selects.legacy.has("is_passed"):
        return []
    labelled = selects.labelled_rows()
    training = s.training_data
    source = sa.select(sa.literal(1)).select_from(labelled).where(labelled.c.label_rank == 1)
    target = (
        sa.select(sa.literal(1)).select_from(training).where(training.c.source == s.LEGACY_SOURCE)
    )
    measures = [("rows", sa.func.count(), sa.func.count())]
    measures += _column_measures(
        labelled,
        training,
        ["is_passed", "is_dropout", "final_grade", *COPIED_FEATURES, *BOOLEAN_FEATURES],
        booleans=("is_passed", "is_dropout", *BOOLEAN_FEATURES),
    )
    return _run_checks(connection, "training_data", source, target, measures)


def verify_migration(
    engine: sa.Engine, selects: LegacySelects, *, mutable_values_too: bool = True
) -> list[Check]:
    """Every check of every rule; the caller fails the run when any is not ok."""
    with engine.connect() as connection:
        return [
            *_keyed_checks(
                connection,
                selects,
                s.student_features,
                [*COPIED_FEATURES, *BOOLEAN_FEATURES],
                values_too=mutable_values_too,
            ),
            *_keyed_checks(
                connection,
                selects,
                s.enrollments,
                ["username", "full_name", "email"],
                values_too=mutable_values_too,
            ),
            *_prediction_checks(connection, selects),
            *_training_checks(connection, selects),
        ]
