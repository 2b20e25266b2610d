"""Engines for the warehouse: one per URL per process, configured per backend.

SQLite gets WAL and a busy timeout so Dagster's parallel steps and a reader can share the
file; MySQL/MariaDB gets utf8mb4 and pre-ping so a long-idle daemon survives a server
restart. The same code path serves both (only the URL differs).
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.warehouse.text_search import register_sqlite_functions

_ENGINES: dict[str, sa.Engine] = {}
_LOCK = threading.Lock()
SQLITE_BUSY_TIMEOUT_MS = 60_000
# Page cache per connection (SQLite's default is 2 MiB). A course's first ingestion writes
# hundreds of thousands of rows into tables with several indexes; with the default cache
# index pages are evicted and read back between rows: writing a 20,000-student course took
# 19.7 s with it, 17.3 s with this (three runs each, alternated). Memory is taken only as
# pages are used.
SQLITE_CACHE_KIB = 65_536


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API object
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        # REPLACE deletes the conflicting row; only with recursive triggers does that delete
        # fire training_data's reject-DELETE trigger.
        cursor.execute("PRAGMA recursive_triggers = ON")
        cursor.close()
        register_sqlite_functions(dbapi_connection)


def _with_mysql_defaults(url: sa.URL) -> sa.URL:
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return url


def create_warehouse_engine(db_url: str, pool_size: int | None = None) -> sa.Engine:
    """A new engine for `db_url` (no caching: tests and benchmarks that need isolation).

    `pool_size`: connections kept open, for a server whose threads query at once (the
    read API); by default SQLAlchemy's 5 (+10 overflow)."""
    url = sa.make_url(db_url)
    pool = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": 10}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **pool)
        _configure_sqlite(engine)
        return engine
    if url.get_backend_name() in ("mysql", "mariadb"):
        return sa.create_engine(
            _with_mysql_defaults(url), pool_pre_ping=True, pool_recycle=3600, **pool
        )
    raise ValueError(
        f"unsupported warehouse backend {url.get_backend_name()!r}: use sqlite:/// or "
        "mysql+pymysql:// (DROPOUT_DB_URL)"
    )


def get_engine(db_url: str) -> sa.Engine:
    """The process-wide engine for `db_url`, created on first use."""
    with _LOCK:
        engine = _ENGINES.get(db_url)
        if engine is None:
            engine = create_warehouse_engine(db_url)
            _ENGINES[db_url] = engine
        return engine


def dispose_engines() -> None:
    """Close every cached engine (tests that drop databases call this)."""
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()
