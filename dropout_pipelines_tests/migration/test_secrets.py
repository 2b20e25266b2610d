"""The database password never reaches logs, run config, errors or the test's output."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dropout_pipelines.simulator.legacy_data import LegacyDataSpec
from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines_tests.migration.helpers import load_legacy, run_migration


def test_migration_run_never_shows_the_password(monkeypatch, mariadb_url, capfd):
    password = sa.make_url(mariadb_url).password
    assert password
    load_legacy(mariadb_url, LegacyDataSpec(rows=80))
    run = run_migration(monkeypatch, mariadb_url)
    assert run.success, run.failure_message()
    logged = "\n".join(run.logs())
    assert "***" in logged  # the masked URL is there: the check below is not vacuous
    assert password not in logged
    run_config = str(run.result.dagster_run.run_config)
    assert password not in run_config
    captured = capfd.readouterr()
    assert password not in captured.out and password not in captured.err


def test_failed_run_error_masks_the_password(monkeypatch, mariadb_url):
    password = sa.make_url(mariadb_url).password
    run = run_migration(monkeypatch, mariadb_url, legacy_table="no_such_table")
    assert not run.success
    assert "no_such_table" in run.failure_message()
    assert password not in run.failure_message()
    assert password not in "\n".join(run.logs())


def test_password_in_resource_config_is_refused(mariadb_url):
    with pytest.raises(Exception, match="db_url_env") as error:
        WarehouseResource(db_url=mariadb_url)
    assert sa.make_url(mariadb_url).password not in str(error.value)


def _query_password_url(url: str) -> str:
    """The same database with the password moved into the query string (`?password=`)."""
    parsed = sa.make_url(url)
    moved = sa.URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query={**parsed.query, "password": parsed.password},
    )
    return moved.render_as_string(hide_password=False)


def test_password_in_the_query_string_is_refused_in_config(mariadb_url):
    url = _query_password_url(mariadb_url)
    password = sa.make_url(mariadb_url).password
    with pytest.raises(Exception, match=r"\?password=") as error:
        WarehouseResource(db_url=url)
    assert password not in str(error.value)


def test_password_in_the_query_string_is_masked_in_logs(monkeypatch, mariadb_url, capfd):
    url = _query_password_url(mariadb_url)
    password = sa.make_url(mariadb_url).password
    moved = sa.make_url(url)
    assert moved.password is None and moved.query["password"] == password
    load_legacy(mariadb_url, LegacyDataSpec(rows=40))
    run = run_migration(monkeypatch, url)
    assert run.success, run.failure_message()
    logged = "\n".join(run.logs())
    assert "password=***" in logged
    assert password not in logged
    captured = capfd.readouterr()
    assert password not in captured.out and password not in captured.err
