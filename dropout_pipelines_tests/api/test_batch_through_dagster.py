"""Batch predict with `DAGSTER_WEBSERVER_URL`: the API submits `predict_course_job` for the
course's partition through a real dagster-webserver's GraphQL API, and a real dagster-daemon
launches it; the scores land with the Dagster run's id."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterRunStatus

from dropout_pipelines.api.app import ApiSettings, create_app
from dropout_pipelines.api.batch import PARTITION_TAG
from dropout_pipelines.api.tokens import TokenBook
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines_tests.api.conftest import (
    HOSTILE_COURSE,
    NOW,
    OLD_STYLE_COURSE,
    STUDENTS,
    TOKENS,
    Served,
    fill_warehouse,
    path,
)
from dropout_pipelines_tests.support.api_server import free_port, serving, wait_for_http
from dropout_pipelines_tests.support.daemon import SQLITE_INSTANCE, daemon_term

WEBSERVER_STARTUP_S = 120


@contextmanager
def _webserver(env: dict[str, str], log_path: Path) -> Iterator[str]:
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-webserver")),
                *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
            ],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{url}/server_info", process, log_path, WEBSERVER_STARTUP_S)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.mark.slow
def test_batch_predict_launches_a_dagster_run(sqlite_url, tmp_path, monkeypatch, stored_model):
    from dropout_pipelines.warehouse.create import create_schema
    from dropout_pipelines.warehouse.engine import get_engine

    engine = get_engine(sqlite_url)
    create_schema(engine)
    fill_warehouse(engine, stored_model)
    env = {"DROPOUT_DB_URL": sqlite_url, "DROPOUT_MODELS_DIR": str(tmp_path / "models")}
    with daemon_term(tmp_path, env, NOW, monkeypatch, SQLITE_INSTANCE) as term:
        term.instance.add_dynamic_partitions(courses_partitions.name, [HOSTILE_COURSE])
        with _webserver(term.env, tmp_path / "webserver.log") as webserver:
            settings = ApiSettings(engine, TokenBook.of(TOKENS), lambda: NOW, webserver)
            with serving(create_app(settings)) as base:
                served = Served(base, engine)
                response = served.post(f"predict/{path(HOSTILE_COURSE)}")
                assert response.status_code == 200, response.text
                launched = response.json()
                # A course Dagster has no partition for yet gets one, then its run.
                second = served.post(f"predict/{path(OLD_STYLE_COURSE)}")
                assert second.status_code == 200, second.text
        assert set(term.instance.get_dynamic_partitions(courses_partitions.name)) == {
            HOSTILE_COURSE,
            OLD_STYLE_COURSE,
        }
        assert launched["mode"] == "dagster" and launched["status"] == "QUEUED"
        run = term.instance.get_run_by_id(launched["run_id"])
        assert run.job_name == "predict_course_job"
        assert run.tags[PARTITION_TAG] == HOSTILE_COURSE
        term.start_daemon()
        runs = term.wait_for_runs(timeout_s=240)
    assert [r.status for r in runs if r.run_id == launched["run_id"]] == [DagsterRunStatus.SUCCESS]
    p = s.predictions
    with engine.connect() as connection:
        scored = connection.execute(
            sa.select(sa.func.count()).where(
                p.c.run_id == launched["run_id"], p.c.course_id == HOSTILE_COURSE
            )
        ).scalar_one()
    assert scored == STUDENTS


def test_an_unreachable_webserver_is_a_clear_502(served):
    settings = ApiSettings(
        served.engine, TokenBook.of(TOKENS), lambda: NOW, f"http://127.0.0.1:{free_port()}"
    )
    with serving(create_app(settings)) as base:
        response = Served(base, served.engine).post(f"predict/{path(HOSTILE_COURSE)}")
    assert response.status_code == 502
    assert "could not reach Dagster at http://127.0.0.1:" in response.json()["error"]
