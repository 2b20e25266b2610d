"""Render the V2 schema as MySQL DDL into `sql/mysql/schema_v2.sql`.

The file is for DBAs who review or apply DDL by hand; the metadata stays the source of
truth and a test fails when the two drift. Regenerate with
`python -m dropout_pipelines.warehouse.ddl`.
"""

from __future__ import annotations

import sys

from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateIndex, CreateTable

from dropout_pipelines.settings import SQL_DIR
from dropout_pipelines.warehouse.create import head_revision
from dropout_pipelines.warehouse.schema import metadata
from dropout_pipelines.warehouse.triggers import INSERT_ONLY_TRIGGERS

MYSQL_SCHEMA_PATH = SQL_DIR / "mysql" / "schema_v2.sql"
HEADER = (
    "-- dropout_pipelines V2 warehouse schema for MySQL 8 / MariaDB 10.11.\n"
    "-- Generated from dropout_pipelines/warehouse/schema.py by\n"
    "-- `python -m dropout_pipelines.warehouse.ddl` (do not edit by hand).\n"
)


def _statement(sql: str) -> str:
    lines = [line.rstrip() for line in str(sql).strip().splitlines()]
    return "\n".join(lines) + ";\n"


def render_mysql_schema() -> str:
    """Every table, index and trigger of the V2 schema as MySQL DDL text."""
    dialect = mysql.dialect()
    parts = [HEADER]
    for table in metadata.sorted_tables:
        parts.append(_statement(CreateTable(table).compile(dialect=dialect)))
        for index in sorted(table.indexes, key=lambda index: index.name or ""):
            parts.append(_statement(CreateIndex(index).compile(dialect=dialect)))
    parts.append(
        "-- The Alembic revision this schema is (upgrades start from it).\n"
        + _statement(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
        + _statement(f"INSERT INTO alembic_version (version_num) VALUES ('{head_revision()}')")
    )
    parts.append("DELIMITER ;;\n")
    parts.extend(f"{trigger.mysql_ddl()};;\n" for trigger in INSERT_ONLY_TRIGGERS)
    parts.append("DELIMITER ;\n")
    return "\n".join(parts)


def main() -> int:
    MYSQL_SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    MYSQL_SCHEMA_PATH.write_text(render_mysql_schema(), encoding="utf-8")
    print(f"wrote {MYSQL_SCHEMA_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
