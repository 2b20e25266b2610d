"""Helpers for the migration tests: run the job in process, snapshot the V2 tables."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import sqlalchemy as sa
from dagster import DagsterInstance

from dropout_pipelines.migration.jobs import legacy_migration_job
from dropout_pipelines.simulator.legacy_data import (
    LegacyDataSpec,
    generate_raw_data,
    write_raw_data,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.support.dagster_runs import RunOutcome

# Columns that legitimately differ between two runs over the same legacy data.
VOLATILE_COLUMNS = {"id", "run_id", "discovered_at", "migrated_at", "updated_at", "created_at"}
DATA_TABLES = ("courses", "student_features", "enrollments", "predictions", "training_data")


def load_legacy(db_url: str, spec: LegacyDataSpec | None = None, table: str = "raw_data"):
    frame = generate_raw_data(spec or LegacyDataSpec())
    write_raw_data(get_engine(db_url), frame, table_name=table)
    return frame


def run_migration(monkeypatch, db_url: str, **config: Any) -> RunOutcome:
    """Run legacy_migration_job in process against `db_url` (given through DROPOUT_DB_URL)."""
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    instance = DagsterInstance.ephemeral()
    result = legacy_migration_job.execute_in_process(
        run_config=config,
        resources={"warehouse": WarehouseResource()},
        instance=instance,
        raise_on_error=False,
    )
    return RunOutcome(result, instance)


def table_frame(engine: sa.Engine, name: str, keep_volatile: bool = False) -> pd.DataFrame:
    table = s.metadata.tables[name]
    columns = [c for c in table.columns if keep_volatile or c.name not in VOLATILE_COLUMNS]
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(sa.select(*columns)).mappings().all())
    if frame.empty:
        return frame
    for column in table.columns:
        if isinstance(column.type, sa.JSON) and column.name in frame:
            frame[column.name] = frame[column.name].map(
                lambda value: json.dumps(value, sort_keys=True)
            )
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def warehouse_state(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    """Every data table's content minus per-run columns, for exact state comparisons."""
    with engine.connect() as connection:
        present = set(sa.inspect(connection).get_table_names())
    return {name: table_frame(engine, name) for name in DATA_TABLES if name in present}


def assert_same_state(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)
