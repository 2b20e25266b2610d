"""What `raw_data` holds, measured before anything is written.

The dry run reports this profile; the migration refuses to start when it shows data the
V2 schema would reject (scores outside 0–100), and stores its fingerprint so a rerun can
tell "already migrated" from "raw_data changed since".
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import sqlalchemy as sa

from dropout_pipelines.migration.legacy_table import LegacyTable
from dropout_pipelines.migration.selects import LegacySelects, contradicting_levels

DUPLICATE_SAMPLE_SIZE = 10


@dataclass(frozen=True)
class SourceProfile:
    raw_rows: int
    keys: int
    duplicate_keys: int
    duplicate_rows: int
    scored_rows: int
    labelled_rows: int
    training_rows: int
    unlabelled_rows: int
    scores_out_of_range: int
    relevelled_rows: int
    courses: int
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    fingerprint: str
    duplicate_sample: list[dict] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return asdict(self)


def _scalar(connection: sa.Connection, select: sa.Select) -> int:
    return int(connection.execute(select).scalar_one() or 0)


def _fingerprint_parts(legacy: LegacyTable) -> list[sa.ColumnElement]:
    """A cheap content fingerprint's inputs: row count and sums/maxima of the key and score
    columns (the same list, in the same order, as every stored marker was made with)."""
    raw = legacy.table
    parts = [sa.func.count(), sa.func.sum(raw.c.user_id, type_=sa.Float)]
    for name in ("id", "fail_risk_score", "final_grade"):
        if legacy.has(name):
            parts.append(sa.func.sum(raw.c[name], type_=sa.Float))
    if legacy.has("updated_at"):
        parts.append(sa.func.max(raw.c.updated_at))
    return parts


def _fingerprint(values: tuple) -> str:
    return hashlib.sha256(repr(tuple(str(v) for v in values)).encode()).hexdigest()


def _rows_where(condition: sa.ColumnElement[bool] | None) -> sa.ColumnElement:
    """How many rows meet `condition` (0 without one), as one column of an aggregate."""
    if condition is None:
        return sa.literal(0)
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _counts(connection: sa.Connection, legacy: LegacyTable) -> tuple[dict[str, int], str]:
    """Every per-row count of the profile and the fingerprint, in one scan of raw_data
    (one query per count read the million-row table eight times)."""
    raw = legacy.table
    scored = raw.c.fail_risk_score if legacy.has("fail_risk_score") else None
    labelled = raw.c.is_passed if legacy.has("is_passed") else None
    counts = {
        "raw_rows": sa.func.count(),
        "scored_rows": _rows_where(scored.is_not(None) if scored is not None else None),
        "labelled_rows": _rows_where(labelled.is_not(None) if labelled is not None else None),
        "unlabelled_rows": _rows_where(labelled.is_(None) if labelled is not None else sa.true()),
        "scores_out_of_range": _rows_where(
            sa.or_(scored < 0, scored > 100) if scored is not None else None
        ),
        "relevelled_rows": _rows_where(contradicting_levels(raw)),
        "courses": sa.func.count(sa.distinct(raw.c.course_id)),
    }
    parts = _fingerprint_parts(legacy)
    row = connection.execute(sa.select(*counts.values(), *parts)).one()
    values = {name: int(value or 0) for name, value in zip(counts, row, strict=False)}
    return values, _fingerprint(tuple(row[len(counts) :]))


def _duplicate_groups(legacy: LegacyTable, selects: LegacySelects) -> sa.Subquery:
    """(user_id, course_id, copies) of every key with more than one row: from the newest-ids
    table when the migration made one (its window counted each key's rows), else grouped."""
    raw = legacy.table
    newest = selects.newest_ids
    if newest is not None:
        select = (
            sa.select(raw.c.user_id, raw.c.course_id, newest.c.copies)
            .join(newest, newest.c.id == raw.c.id)
            .where(newest.c.copies > 1)
        )
    else:
        select = (
            sa.select(raw.c.user_id, raw.c.course_id, sa.func.count().label("copies"))
            .group_by(raw.c.user_id, raw.c.course_id)
            .having(sa.func.count() > 1)
        )
    return select.subquery("duplicated")


def _duplicates(
    connection: sa.Connection, legacy: LegacyTable, selects: LegacySelects
) -> tuple[int, int, list[dict]]:
    """Keys with more than one row, the extra rows, and the most copied keys as a sample.

    One pass over the duplicated keys, streamed (most copied first): grouping the million
    rows once for the counts and again for the sample cost 8 s each on MariaDB."""
    groups = _duplicate_groups(legacy, selects)
    duplicated = (
        sa.select(groups)
        .order_by(groups.c.copies.desc(), groups.c.course_id, groups.c.user_id)
        .execution_options(stream_results=True)
    )
    keys, extra_rows, sample = 0, 0, []
    for row in connection.execute(duplicated).mappings():
        keys += 1
        extra_rows += int(row["copies"]) - 1
        if len(sample) < DUPLICATE_SAMPLE_SIZE:
            sample.append(dict(row))
    return keys, extra_rows, sample


def profile_source(
    connection: sa.Connection, selects: LegacySelects, *, count_training: bool = True
) -> SourceProfile:
    """Count what each migration rule will produce from the current raw_data (reusing the
    newest-ids table when `selects` has one).

    Counting the training rows ranks every labelled row per semester, a sort of the whole
    table; the migration itself passes `count_training=False` (`training_rows` 0) and fills
    in what its training_data INSERT wrote, which is the same number."""
    legacy = selects.legacy
    counts, fingerprint = _counts(connection, legacy)
    duplicate_keys, duplicate_rows, sample = _duplicates(connection, legacy, selects)
    return SourceProfile(
        **counts,
        keys=counts["raw_rows"] - duplicate_rows,
        duplicate_keys=duplicate_keys,
        duplicate_rows=duplicate_rows,
        training_rows=_scalar(connection, selects.training_row_count())
        if count_training and legacy.has("is_passed")
        else 0,
        missing_columns=legacy.missing,
        extra_columns=legacy.extra,
        fingerprint=fingerprint,
        duplicate_sample=sample,
    )
