"""raw_data is renamed only by the retire job, only with confirm: true, only when migrated."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import DagsterInstance

from dropout_pipelines.migration.retire import legacy_retire_job
from dropout_pipelines.simulator.legacy_data import LegacyDataSpec
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.migration.helpers import load_legacy, run_migration


def _retire(monkeypatch, db_url: str, confirm: bool):
    monkeypatch.setenv("DROPOUT_DB_URL", db_url)
    return legacy_retire_job.execute_in_process(
        run_config={"ops": {"retire_legacy_table": {"config": {"confirm": confirm}}}},
        resources={"warehouse": WarehouseResource()},
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def _tables(db_url: str) -> set[str]:
    with get_engine(db_url).connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def test_retire_needs_confirm_and_a_migration(monkeypatch, db_url):
    load_legacy(db_url, LegacyDataSpec(rows=60))
    assert not _retire(monkeypatch, db_url, confirm=True).success  # not migrated yet
    assert run_migration(monkeypatch, db_url).success
    assert not _retire(monkeypatch, db_url, confirm=False).success
    assert "raw_data" in _tables(db_url)
    assert _retire(monkeypatch, db_url, confirm=True).success
    tables = _tables(db_url)
    assert "raw_data" not in tables
    assert any(name.startswith("raw_data_retired_") for name in tables)
