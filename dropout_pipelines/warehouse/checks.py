"""Asset checks on the warehouse tables behind the ingestion and training assets.

Each table's keys are never NULL and name one row (the constraints say so; the checks say
whether the data still does, e.g. after a hand-made repair or a restore into a table
created without them). `training_data` never loses a row: the check remembers the highest
count per semester it has seen (in its own evaluation's metadata, in the Dagster instance)
and fails when a semester holds fewer. A serving model's held-out AUC stays above a floor.

Checks target asset keys, not asset objects: the warehouse layer imports no domain.
"""

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    asset_check,
    multi_asset_check,
)
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.resource import WarehouseResource

AUC_FLOOR_ENV = "DROPOUT_MODEL_AUC_FLOOR"
DEFAULT_AUC_FLOOR = 0.6
HIGH_WATER_KEY = "high_water_rows"


@dataclass(frozen=True)
class KeyCheck:
    """`name` checks that `columns` of `table` name one row, and are never NULL except
    `nullable` ones (grouped as -1 when NULL, as the table's unique index does)."""

    name: str
    asset: str
    table: sa.Table
    columns: tuple[str, ...]
    nullable: tuple[str, ...] = ()

    def spec(self) -> AssetCheckSpec:
        return AssetCheckSpec(
            self.name,
            asset=self.asset,
            description=f"{self.table.name}: ({', '.join(self.columns)}) never NULL, one row "
            "per key.",
        )


INGESTION_KEY_CHECKS = (
    KeyCheck("enrollment_keys_unique", "mooc_enrollments", s.enrollments, ("user_id", "course_id")),
    KeyCheck("grade_keys_unique", "mooc_grades", s.mooc_grades, ("user_id", "course_id")),
    KeyCheck(
        "h5p_statement_keys_unique", "h5p_results", s.h5p_results,
        ("statement_id", "user_id", "course_id"),
    ),
    KeyCheck(
        "student_feature_keys_unique", "student_features", s.student_features,
        ("user_id", "course_id"),
    ),
    KeyCheck(
        "feature_snapshot_keys_unique", "feature_snapshots", s.feature_snapshots,
        ("user_id", "course_id", "snapshot_week"),
    ),
)  # fmt: skip
# Legacy rows have no week: COALESCE(snapshot_week, -1) is their key, as in the unique index.
TRAINING_KEY_CHECK = KeyCheck(
    "training_data_keys_unique",
    "training_data",
    s.training_data,
    ("user_id", "course_id", "semester", "snapshot_week"),
    nullable=("snapshot_week",),
)


def key_violations(connection: sa.Connection, check: KeyCheck) -> dict[str, int]:
    """Rows with a NULL key column, and keys held by more than one row."""
    table = check.table
    columns = [table.c[name] for name in check.columns]
    required = [c for c in columns if c.name not in check.nullable]
    nulls = connection.execute(
        sa.select(sa.func.count()).where(sa.or_(*(c.is_(None) for c in required)))
    ).scalar_one()
    grouped = [sa.func.coalesce(c, -1) if c.name in check.nullable else c for c in columns]
    duplicated = (
        sa.select(sa.literal(1))
        .select_from(table)
        .group_by(*grouped)
        .having(sa.func.count() > 1)
        .subquery()
    )
    duplicates = connection.execute(sa.select(sa.func.count()).select_from(duplicated)).scalar_one()
    return {"null_keys": int(nulls), "duplicated_keys": int(duplicates)}


def _key_result(connection: sa.Connection, check: KeyCheck) -> AssetCheckResult:
    found = key_violations(connection, check)
    return AssetCheckResult(
        asset_key=check.asset,
        check_name=check.name,
        passed=not any(found.values()),
        severity=AssetCheckSeverity.ERROR,
        metadata={"table": check.table.name, **found},
    )


def _present(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


def _skipped(check: KeyCheck) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=check.asset,
        check_name=check.name,
        passed=True,
        metadata={"table": check.table.name, "note": "table not created yet"},
    )


@multi_asset_check(
    specs=[check.spec() for check in INGESTION_KEY_CHECKS],
    can_subset=True,
    description="Keys of the ingested tables: never NULL, one row each.",
)
def ingestion_key_checks(context: AssetCheckExecutionContext, warehouse: WarehouseResource):
    wanted = {key.name for key in context.selected_asset_check_keys}
    with warehouse.get_engine().connect() as connection:
        present = _present(connection)
        for check in INGESTION_KEY_CHECKS:
            if check.name not in wanted:
                continue
            if check.table.name not in present:
                yield _skipped(check)
            else:
                yield _key_result(connection, check)


@asset_check(
    asset=AssetKey("training_data"),
    name=TRAINING_KEY_CHECK.name,
    description=TRAINING_KEY_CHECK.spec().description,
)
def training_data_keys_unique(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.get_engine().connect() as connection:
        if s.training_data.name not in _present(connection):
            return _skipped(TRAINING_KEY_CHECK)
        return _key_result(connection, TRAINING_KEY_CHECK)


def rows_per_semester(engine: sa.Engine) -> dict[str, int]:
    table = s.training_data
    with engine.connect() as connection:
        if table.name not in _present(connection):
            return {}
        return {
            semester: int(count)
            for semester, count in connection.execute(
                sa.select(table.c.semester, sa.func.count()).group_by(table.c.semester)
            )
        }


def shrunk_semesters(
    current: dict[str, int], high_water: dict[str, int]
) -> dict[str, dict[str, int]]:
    """Semesters holding fewer rows than the most ever seen."""
    return {
        semester: {"rows": current.get(semester, 0), "high_water": seen}
        for semester, seen in sorted(high_water.items())
        if current.get(semester, 0) < seen
    }


def previous_high_water(context: AssetCheckExecutionContext, key: AssetCheckKey) -> dict:
    """The per-semester high-water mark of the last completed evaluation of this check."""
    records = context.instance.event_log_storage.get_asset_check_execution_history(
        key, limit=1, status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    )
    evaluation = records[0].event.asset_check_evaluation if records and records[0].event else None
    value = evaluation.metadata.get(HIGH_WATER_KEY) if evaluation is not None else None
    data = getattr(value, "data", None)
    return {str(k): int(v) for k, v in data.items()} if isinstance(data, dict) else {}


@asset_check(
    asset=AssetKey("training_data"),
    description="training_data is insert-only: no semester ever holds fewer rows than the "
    "most this check has seen (the count per semester is kept in its metadata).",
)
def training_rows_never_decrease(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource
) -> AssetCheckResult:
    current = rows_per_semester(warehouse.get_engine())
    previous = previous_high_water(context, context.check_specs[0].key)
    shrunk = shrunk_semesters(current, previous)
    high_water = {
        semester: max(current.get(semester, 0), previous.get(semester, 0))
        for semester in sorted(set(current) | set(previous))
    }
    return AssetCheckResult(
        passed=not shrunk,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "rows": sum(current.values()),
            "semesters": len(current),
            "shrunk_semesters": MetadataValue.json(shrunk),
            HIGH_WATER_KEY: MetadataValue.json(high_water),
        },
    )


def auc_floor() -> float:
    value = os.environ.get(AUC_FLOOR_ENV) or str(DEFAULT_AUC_FLOOR)
    try:
        floor = float(value)
    except ValueError:
        floor = -1.0
    if not 0 <= floor <= 1:
        raise ValueError(f"{AUC_FLOOR_ENV}={value!r}: expected a number between 0 and 1")
    return floor


@dataclass(frozen=True)
class ModelQuality:
    model: str
    is_default: bool
    roc_auc: float | None


def active_model_quality(engine: sa.Engine) -> list[ModelQuality]:
    registry = s.model_registry
    with engine.connect() as connection:
        if registry.name not in _present(connection):
            return []
        rows = connection.execute(
            sa.select(
                registry.c.model_name,
                registry.c.model_version,
                registry.c.is_default,
                registry.c.metrics,
            )
            .where(registry.c.is_active.is_(True))
            .order_by(registry.c.model_name, registry.c.model_version)
        ).all()
    quality = []
    for row in rows:
        auc = (row.metrics or {}).get("roc_auc") if isinstance(row.metrics, dict) else None
        quality.append(
            ModelQuality(
                f"{row.model_name}:{row.model_version}",
                bool(row.is_default),
                float(auc) if isinstance(auc, int | float) else None,
            )
        )
    return quality


def below_floor(models: Iterable[ModelQuality], floor: float) -> list[ModelQuality]:
    return [m for m in models if m.roc_auc is not None and m.roc_auc < floor]


@asset_check(
    asset=AssetKey("trained_model"),
    description="Every active model with a held-out AUC scores at least the floor "
    f"(`{AUC_FLOOR_ENV}`, default {DEFAULT_AUC_FLOOR}); models without one (legacy) are "
    "listed, not failed.",
)
def model_quality_above_floor(warehouse: WarehouseResource) -> AssetCheckResult:
    try:
        floor = auc_floor()
    except ValueError as error:  # reported on the check, not as a failed training run
        return AssetCheckResult(passed=False, metadata={"error": str(error)})
    models = active_model_quality(warehouse.get_engine())
    weak = below_floor(models, floor)
    return AssetCheckResult(
        passed=not weak,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "auc_floor": MetadataValue.float(floor),
            "active_models": len(models),
            "below_floor": MetadataValue.json(
                [{"model": m.model, "roc_auc": m.roc_auc, "default": m.is_default} for m in weak]
            ),
            "without_auc": MetadataValue.json([m.model for m in models if m.roc_auc is None]),
        },
    )


WAREHOUSE_CHECKS: Sequence = (
    ingestion_key_checks,
    training_data_keys_unique,
    training_rows_never_decrease,
    model_quality_above_floor,
)
