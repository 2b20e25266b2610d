"""`make serve`'s process: `python -m dropout_pipelines.api.server` configured from the
environment, on each backend, with the password and tokens kept out of its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
import requests
import sqlalchemy as sa

from dropout_pipelines.api.tokens import token_entry
from dropout_pipelines.simulator.roster import write_course
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines_tests.api.conftest import HOSTILE_COURSE, path
from dropout_pipelines_tests.support.api_server import free_port, wait_for_http

STARTUP_S = 60
TOKEN = "server-test-token-4242"
ONE_OFF = re.compile(r"one-off token\s+(\S+)")


def _environment(db_url: str, port: int, tokens: str | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "DROPOUT_API_TOKENS"}
    environment |= {"DROPOUT_DB_URL": db_url, "DROPOUT_API_PORT": str(port)}
    if tokens is not None:
        environment["DROPOUT_API_TOKENS"] = tokens
    return environment


@contextmanager
def _server(db_url: str, tokens: str | None, tmp_path) -> Iterator[tuple[str, Callable[[], str]]]:
    port = free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dropout_pipelines.api.server"],
            env=_environment(db_url, port, tokens),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for_http(f"{base}/", process, log_path, STARTUP_S)
            yield base, log_path.read_text
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_the_server_serves_the_warehouse_with_hashed_tokens(db_url, tmp_path):
    engine = get_engine(db_url)
    create_schema(engine)
    write_course(engine, HOSTILE_COURSE, 12, datetime(2026, 11, 29, 9))
    with _server(db_url, token_entry("co.tran", TOKEN), tmp_path) as (base, output):
        students = requests.get(
            f"{base}/api/students/{path(HOSTILE_COURSE)}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert students.status_code == 200 and students.json()["total"] == 12
        assert requests.get(f"{base}/api/courses").status_code == 401
        logged = output()
    assert "instructor page: http://127.0.0.1:" in logged
    assert TOKEN not in logged
    password = sa.make_url(db_url).password
    if password:
        assert password not in logged


def test_without_tokens_a_one_off_token_is_printed_once(sqlite_url, tmp_path):
    with _server(sqlite_url, None, tmp_path) as (base, output):
        match = ONE_OFF.search(output())
        assert match, output()
        token = match.group(1)
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{base}/api/courses", headers=headers).json() == {"courses": []}
        assert requests.get(f"{base}/api/courses").status_code == 401


@pytest.mark.parametrize("tokens", ["plain-token", "name:sha256:abc", "a:sha256:" + "g" * 64])
def test_malformed_tokens_stop_the_server_with_a_clear_error(sqlite_url, tokens):
    completed = subprocess.run(
        [sys.executable, "-m", "dropout_pipelines.api.server"],
        env=_environment(sqlite_url, free_port(), tokens),
        capture_output=True,
        text=True,
        timeout=STARTUP_S,
    )
    assert completed.returncode == 2
    assert "DROPOUT_API_TOKENS entry 1 is not NAME:sha256:HEX" in completed.stderr
    assert tokens not in completed.stderr + completed.stdout
