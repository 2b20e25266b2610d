"""A Dagster instance for a test, on the SQLite default or on MySQL storage (the MariaDB server).

`dagster_instance("sqlite", tmp_path)` opens a DAGSTER_HOME holding the repository's
`dagster.yaml` (what `make demo`/`make dev` use); `dagster_instance("mariadb", tmp_path,
mariadb_server)` one holding `deploy/dagster.mysql.yaml`, with the `DAGSTER_MYSQL_*`
variables pointing at a fresh database of the test server (dagster-mysql creates its tables
on first use). Inside the block `DAGSTER_HOME` and those variables are set in
`os.environ`, so processes started there (a daemon, run workers) open the same instance; on
exit they are restored, the instance is disposed and the database dropped.

To run an end-to-end test once on each kind of instance::

    @pytest.fixture(params=INSTANCE_KINDS)
    def instance(request, tmp_path):
        server = (
            request.getfixturevalue("mariadb_server") if request.param == "mariadb" else None
        )
        with dagster_instance(request.param, tmp_path, server) as instance:
            yield instance

    def test_refresh_end_to_end(instance):
        result = materialize([...], instance=instance)
        ...
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance

from dropout_pipelines.settings import PROJECT_ROOT
from dropout_pipelines_tests.support.mariadb_server import MariaDBServer

SQLITE_INSTANCE_YAML = PROJECT_ROOT / "dagster.yaml"
MYSQL_INSTANCE_YAML = PROJECT_ROOT / "deploy" / "dagster.mysql.yaml"
INSTANCE_KINDS = ("sqlite", "mariadb")
MYSQL_ENV_NAMES = (
    "DAGSTER_MYSQL_HOST",
    "DAGSTER_MYSQL_PORT",
    "DAGSTER_MYSQL_USER",
    "DAGSTER_MYSQL_PASSWORD",
    "DAGSTER_MYSQL_DB",
)


def mysql_env(url: str) -> dict[str, str]:
    """The `DAGSTER_MYSQL_*` variables of deploy/dagster.mysql.yaml for a SQLAlchemy URL."""
    parsed = sa.make_url(url)
    return {
        "DAGSTER_MYSQL_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_MYSQL_PORT": str(parsed.port or 3306),
        "DAGSTER_MYSQL_USER": parsed.username or "",
        "DAGSTER_MYSQL_PASSWORD": parsed.password or "",
        "DAGSTER_MYSQL_DB": parsed.database or "",
    }


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def dagster_instance(
    kind: str, tmp_path: Path, mariadb_server: MariaDBServer | None = None
) -> Iterator[DagsterInstance]:
    """A DagsterInstance of `kind` ("sqlite" or "mariadb") under `tmp_path/dagster_home_<kind>`."""
    if kind not in INSTANCE_KINDS:
        raise ValueError(f"unknown instance kind {kind!r}: expected one of {INSTANCE_KINDS}")
    home = tmp_path / f"dagster_home_{kind}"
    home.mkdir(parents=True, exist_ok=True)
    env = {"DAGSTER_HOME": str(home)}
    database = None
    if kind == "sqlite":
        shutil.copy(SQLITE_INSTANCE_YAML, home / "dagster.yaml")
    else:
        if mariadb_server is None:
            raise ValueError("a MariaDB instance needs the `mariadb_server` fixture")
        shutil.copy(MYSQL_INSTANCE_YAML, home / "dagster.yaml")
        database = mariadb_server.create_database("dagster_instance")
        env.update(mysql_env(mariadb_server.url_for(database)))
    try:
        with _environ(env):
            instance = DagsterInstance.from_config(str(home))
            try:
                yield instance
            finally:
                instance.dispose()
    finally:
        if database is not None and mariadb_server is not None:
            mariadb_server.drop_database(database)
