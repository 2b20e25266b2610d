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


def _fingerprint(connection: sa.Connection, legacy: LegacyTable) -> str:
    """A cheap content fingerprint: row count and sums/maxima of the key and score columns."""
    raw = legacy.table
    parts = [sa.func.count(), sa.func.sum(raw.c.user_id, type_=sa.Float)]
    for name in ("id", "fail_risk_score", "final_grade"):
        if legacy.has(name):
            parts.append(sa.func.sum(raw.c[name], type_=sa.Float))
    if legacy.has("updated_at"):
        parts.append(sa.func.max(raw.c.updated_at))
    values = connection.execute(sa.select(*parts)).one()
    return hashlib.sha256(repr(tuple(str(v) for v in values)).encode()).hexdigest()


def _duplicates(connection: sa.Connection, legacy: LegacyTable) -> tuple[int, int, list[dict]]:
    raw = legacy.table
    groups = (
        sa.select(raw.c.user_id, raw.c.course_id, sa.func.count().label("copies"))
        .group_by(raw.c.user_id, raw.c.course_id)
        .having(sa.func.count() > 1)
        .subquery("duplicated")
    )
    keys, extra_rows = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(groups.c.copies - 1), 0))
    ).one()
    sample = connection.execute(
        sa.select(groups)
        .order_by(groups.c.copies.desc(), groups.c.course_id, groups.c.user_id)
        .limit(DUPLICATE_SAMPLE_SIZE)
    ).mappings()
    return int(keys), int(extra_rows), [dict(row) for row in sample]


def profile_source(connection: sa.Connection, selects: LegacySelects) -> SourceProfile:
    """Count what each migration rule will produce from the current raw_data."""
    legacy = selects.legacy
    raw = legacy.table
    raw_rows = _scalar(connection, sa.select(sa.func.count()).select_from(raw))
    duplicate_keys, duplicate_rows, sample = _duplicates(connection, legacy)
    scored = raw.c.fail_risk_score if legacy.has("fail_risk_score") else None
    labelled = raw.c.is_passed if legacy.has("is_passed") else None
    count_where = lambda condition: _scalar(  # noqa: E731 - a local shorthand
        connection, sa.select(sa.func.count()).select_from(raw).where(condition)
    )
    return SourceProfile(
        raw_rows=raw_rows,
        keys=raw_rows - duplicate_rows,
        duplicate_keys=duplicate_keys,
        duplicate_rows=duplicate_rows,
        scored_rows=count_where(scored.is_not(None)) if scored is not None else 0,
        labelled_rows=count_where(labelled.is_not(None)) if labelled is not None else 0,
        training_rows=_scalar(connection, selects.training_row_count())
        if labelled is not None
        else 0,
        unlabelled_rows=count_where(labelled.is_(None)) if labelled is not None else raw_rows,
        scores_out_of_range=count_where(sa.or_(scored < 0, scored > 100))
        if scored is not None
        else 0,
        relevelled_rows=count_where(contradicting_levels(raw))
        if contradicting_levels(raw) is not None
        else 0,
        courses=_scalar(connection, sa.select(sa.func.count(sa.distinct(raw.c.course_id)))),
        missing_columns=legacy.missing,
        extra_columns=legacy.extra,
        fingerprint=_fingerprint(connection, legacy),
        duplicate_sample=sample,
    )
