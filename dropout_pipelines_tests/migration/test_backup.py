"""Backups before the migration: SQLite backup API, mariadb-dump, and the copy table."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dropout_pipelines.migration.backup import BackupError, _backup_copy_table, backup_legacy_data
from dropout_pipelines.simulator.legacy_data import LegacyDataSpec
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.migration.helpers import load_legacy, run_migration

NOW = datetime(2026, 11, 29, 8, 30, 0)


def test_sqlite_backup_is_a_complete_database_file(sqlite_url, tmp_path):
    frame = load_legacy(sqlite_url, LegacyDataSpec(rows=120))
    result = backup_legacy_data(get_engine(sqlite_url), "raw_data", tmp_path / "backups", NOW)
    assert result.method == "sqlite_backup"
    assert result.location.endswith("warehouse_20261129T083000.sqlite")
    with sqlite3.connect(result.location) as copy:
        assert copy.execute("SELECT COUNT(*) FROM raw_data").fetchone()[0] == len(frame)


def test_mariadb_dump_holds_every_row_and_no_password(mariadb_url, tmp_path):
    frame = load_legacy(mariadb_url, LegacyDataSpec(rows=120))
    result = backup_legacy_data(get_engine(mariadb_url), "raw_data", tmp_path, NOW)
    assert result.method in ("mariadb-dump", "mysqldump")
    dump = Path(result.location).read_text(encoding="utf-8")
    assert "CREATE TABLE `raw_data`" in dump
    assert dump.count("INSERT INTO `raw_data`") >= 1
    row_tuples = [line for line in dump.splitlines() if line.startswith("(")]
    assert len(row_tuples) == len(frame)  # extended inserts: one tuple a line
    assert sa.make_url(mariadb_url).password not in dump


def test_copy_table_backup_when_no_dump_tool(mariadb_url):
    frame = load_legacy(mariadb_url, LegacyDataSpec(rows=120))
    engine = get_engine(mariadb_url)
    result = _backup_copy_table(engine, "raw_data", NOW)
    assert result.location == "raw_data_backup_20261129T083000"
    with engine.connect() as connection:
        copied = connection.execute(
            sa.text("SELECT COUNT(*) FROM raw_data_backup_20261129T083000")
        ).scalar_one()
    assert copied == result.rows == len(frame)


def test_failed_dump_is_a_clear_error_without_the_password(mariadb_url, tmp_path):
    url = sa.make_url(mariadb_url)
    wrong = url.set(password=url.password + "-wrong")
    engine = sa.create_engine(wrong)
    with pytest.raises(BackupError) as error:
        backup_legacy_data(engine, "raw_data", tmp_path, NOW)
    assert "failed" in str(error.value)
    assert url.password not in str(error.value)
    engine.dispose()


def test_backup_location_is_in_run_metadata(monkeypatch, sqlite_url, tmp_path):
    load_legacy(sqlite_url, LegacyDataSpec(rows=50))
    run = run_migration(monkeypatch, sqlite_url, backup_dir=str(tmp_path / "b"))
    assert run.success
    meta = run.metadata("backup_legacy_table")
    assert meta["backup_method"] == "sqlite_backup"
    assert str(meta["backup_location"]).startswith(str(tmp_path / "b"))
