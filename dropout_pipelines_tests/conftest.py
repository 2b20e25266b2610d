"""Session fixtures: the real MariaDB server and one fresh database per test on each backend.

`DROPOUT_TEST_BACKENDS` (default `sqlite,mariadb`) chooses the backends the `db_url`
fixture runs on.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines.warehouse.engine import dispose_engines
from dropout_pipelines_tests.support.mariadb_server import MariaDBServer, start_test_server

BACKENDS = [
    name.strip()
    for name in os.environ.get("DROPOUT_TEST_BACKENDS", "sqlite,mariadb").split(",")
    if name.strip()
]


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    server = start_test_server()
    yield server
    dispose_engines()
    server.stop()


@pytest.fixture
def sqlite_url(tmp_path) -> Iterator[str]:
    yield f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    dispose_engines()


@pytest.fixture
def mariadb_url(request) -> Iterator[str]:
    server: MariaDBServer = request.getfixturevalue("mariadb_server")
    database = server.create_database()
    yield server.url_for(database)
    dispose_engines()
    server.drop_database(database)


@pytest.fixture(params=BACKENDS)
def db_url(request) -> str:
    """A URL to an empty database, once per backend (SQLite file, MariaDB database)."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
def another_db_url(request, tmp_path, db_url) -> Iterator[str]:
    """A second empty database on the same backend as `db_url` (for reference runs)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.sqlite'}"
        return
    server: MariaDBServer = request.getfixturevalue("mariadb_server")
    database = server.create_database()
    yield server.url_for(database)
    dispose_engines()
    server.drop_database(database)


@pytest.fixture
def dagster_home(tmp_path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml, for CLI subprocesses."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.fixture(autouse=True)
def _forget_the_instance_of_the_previous_test() -> Iterator[None]:
    """Dagster 1.13 keeps the entered instance's defs-state storage in a context variable;
    entering the same instance twice (a schedule context built on a `with` instance does)
    leaves it set after the instance is gone, and the next test's first `Definitions` load
    then fails on a dead weak reference. Each test starts without it."""
    yield
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
