"""The two Dagster instance configurations the project ships, opened and used for real.

`dagster.yaml` (SQLite, `make demo`/`make dev`) and `deploy/dagster.mysql.yaml` (Dagster's own
storage on MySQL/MariaDB, here on the test server): each is loaded as Dagster loads it, runs
a tiny asset in the `warehouse_db` pool, and gives the run and its events back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
import yaml
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    MaterializeResult,
    asset,
    materialize,
)
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines_tests.support.dagster_instances import (
    INSTANCE_KINDS,
    MYSQL_ENV_NAMES,
    MYSQL_INSTANCE_YAML,
    SQLITE_INSTANCE_YAML,
    dagster_instance,
)

POOL = "warehouse_db"
DAGSTER_TABLES = {
    "runs",
    "run_tags",
    "event_logs",
    "asset_keys",
    "jobs",
    "job_ticks",
    "concurrency_limits",
    "concurrency_slots",
    "alembic_version",
}


@asset(pool=POOL)
def instance_probe() -> MaterializeResult:
    """The smallest asset in the warehouse pool: one materialization with metadata."""
    return MaterializeResult(metadata={"rows": 3})


@pytest.fixture(params=INSTANCE_KINDS)
def instance(request, tmp_path):
    server = request.getfixturevalue("mariadb_server") if request.param == "mariadb" else None
    with dagster_instance(request.param, tmp_path, server) as opened:
        yield opened


def _instance_settings(instance: DagsterInstance) -> dict:
    concurrency = instance.get_concurrency_config()
    return {
        "coordinator": type(instance.run_coordinator),
        "max_concurrent_runs": concurrency.run_queue_config.max_concurrent_runs,
        "pool_default_limit": concurrency.pool_config.default_pool_limit,
        "run_retries": (
            instance.run_retries_enabled,
            instance.run_retries_max_retries,
            instance.run_retries_retry_on_asset_or_op_failure,
        ),
    }


def test_the_sqlite_default_queues_two_runs_and_retries_failed_ones(tmp_path):
    with dagster_instance("sqlite", tmp_path) as instance:
        assert instance.is_persistent
        assert "sqlite" in type(instance.run_storage).__name__.lower()
        assert _instance_settings(instance) == {
            "coordinator": QueuedRunCoordinator,
            "max_concurrent_runs": 2,
            "pool_default_limit": 1,
            "run_retries": (True, 2, True),
        }


def test_the_mysql_instance_holds_the_production_settings(tmp_path, mariadb_server):
    with dagster_instance("mariadb", tmp_path, mariadb_server) as instance:
        assert type(instance.run_storage).__name__ == "MySQLRunStorage"
        assert type(instance.event_log_storage).__name__ == "MySQLEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "MySQLScheduleStorage"
        assert _instance_settings(instance) == {
            "coordinator": QueuedRunCoordinator,
            "max_concurrent_runs": 4,
            "pool_default_limit": 4,
            "run_retries": (True, 2, True),
        }
        run_queue = instance.get_concurrency_config().run_queue_config
        assert {"key": "dagster/backfill", "limit": 2} in run_queue.tag_concurrency_limits
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_start_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0


def test_a_materialization_round_trips_through_the_instance(instance):
    result = materialize([instance_probe], instance=instance)

    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.status == DagsterRunStatus.SUCCESS
    latest = instance.get_latest_materialization_event(AssetKey("instance_probe"))
    assert latest is not None and latest.run_id == result.run_id
    assert latest.asset_materialization.metadata["rows"].value == 3
    event_types = {
        record.event_log_entry.dagster_event.event_type
        for record in instance.get_records_for_run(result.run_id).records
        if record.event_log_entry.dagster_event is not None
    }
    assert {
        DagsterEventType.RUN_SUCCESS,
        DagsterEventType.ASSET_MATERIALIZATION,
    } <= event_types
    assert POOL in instance.event_log_storage.get_concurrency_keys()


def test_dagster_creates_its_tables_on_mariadb_and_never_prints_the_password(
    tmp_path, mariadb_server, capfd, caplog
):
    with dagster_instance("mariadb", tmp_path, mariadb_server) as instance:
        env = {name: os.environ[name] for name in MYSQL_ENV_NAMES}
        result = materialize([instance_probe], instance=instance)
        assert result.success
        # the README's explicit pool limit, through the real CLI and the same environment
        cli = subprocess.run(
            [str(Path(sys.executable).with_name("dagster")), "instance", "concurrency"]
            + ["set", POOL, "3"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr[-2000:]
        assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 3

        url = sa.URL.create(
            "mysql+pymysql",
            username=env["DAGSTER_MYSQL_USER"],
            password=env["DAGSTER_MYSQL_PASSWORD"],
            host=env["DAGSTER_MYSQL_HOST"],
            port=int(env["DAGSTER_MYSQL_PORT"]),
            database=env["DAGSTER_MYSQL_DB"],
        )
        engine = sa.create_engine(url)
        try:
            tables = set(sa.inspect(engine).get_table_names())
        finally:
            engine.dispose()
        assert DAGSTER_TABLES <= tables

        logs = "\n".join(entry.message for entry in instance.all_logs(result.run_id))

    captured = capfd.readouterr()
    assert "RUN_SUCCESS" in captured.err  # the run's own log lines were captured
    password = env["DAGSTER_MYSQL_PASSWORD"]
    assert password
    outputs = [captured.out, captured.err, caplog.text, cli.stdout, cli.stderr, logs]
    for text in outputs:
        assert password not in text
        assert quote(password) not in text


def _load_instance_config(tmp_path: Path, config: dict) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    dagster_instance_config(str(home))


@pytest.mark.parametrize("path", [SQLITE_INSTANCE_YAML, MYSQL_INSTANCE_YAML])
def test_limits_in_the_run_coordinator_config_would_be_refused(tmp_path, path):
    """Why the run limits live under `concurrency.runs`: Dagster refuses them in the
    coordinator's config once `concurrency` is set (and the pool limit needs it)."""
    config = yaml.safe_load(path.read_text())
    _load_instance_config(tmp_path, config)

    config["run_coordinator"]["config"] = {"max_concurrent_runs": 2}
    with pytest.raises(DagsterInvalidConfigError, match="concurrency > runs"):
        _load_instance_config(tmp_path, config)


def test_a_per_pool_limit_is_not_instance_config(tmp_path):
    """`concurrency.pools` takes a default limit only; a pool's own limit is set with the CLI."""
    config = yaml.safe_load(MYSQL_INSTANCE_YAML.read_text())
    config["concurrency"]["pools"][POOL] = 4
    with pytest.raises(DagsterInvalidConfigError):
        _load_instance_config(tmp_path, config)
