"""Session fixtures: the real MariaDB server and one fresh database per test on each backend.

`DROPOUT_TEST_BACKENDS` (default `sqlite,mariadb`) chooses the backends the `db_url`
fixture runs on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

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
