"""SQL that lives in `sql/`: named queries (bound parameters) and view definitions.

SQL has one home: the files under `sql/queries` and `sql/views` are loaded from here,
never written inline as f-strings.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.settings import SQL_DIR

QUERIES_DIR = SQL_DIR / "queries"
VIEWS_DIR = SQL_DIR / "views"


def _read(path: Path) -> str:
    if not path.exists():
        raise FileNotFoundError(f"SQL file {path} is missing from the project's sql/ folder")
    return path.read_text(encoding="utf-8")


@cache
def named_query(name: str) -> sa.TextClause:
    """The query `sql/queries/<name>.sql` as a text clause with bound parameters."""
    return sa.text(_read(QUERIES_DIR / f"{name}.sql"))


def view_names() -> list[str]:
    return sorted(path.stem for path in VIEWS_DIR.glob("*.sql"))


def create_views(engine: sa.Engine) -> list[str]:
    """(Re)create every view of `sql/views`: drop and create, so a changed file applies."""
    created = []
    with engine.begin() as connection:
        for name in view_names():
            connection.exec_driver_sql(f"DROP VIEW IF EXISTS {name}")
            connection.exec_driver_sql(_read(VIEWS_DIR / f"{name}.sql"))
            created.append(name)
    return created
