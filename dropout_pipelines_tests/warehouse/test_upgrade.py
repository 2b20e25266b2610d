"""Schema changes arrive through Alembic revisions: a warehouse created by the release before
Alembic (a frozen copy of its DDL) upgrades in place on both backends, nothing lost."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema, current_revision, head_revision
from dropout_pipelines.warehouse.engine import get_engine

FIXTURES = Path(__file__).parent / "fixtures"
STAMP = datetime(2026, 11, 30, 8, 0)


def _apply_release_ddl(engine: sa.Engine) -> None:
    dialect = "sqlite" if engine.dialect.name == "sqlite" else "mysql"
    text = (FIXTURES / f"schema_release_20261202.{dialect}.sql").read_text()
    code = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements = [chunk.strip().rstrip(";") for chunk in code.split("\n\n") if chunk.strip()]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def _seed_release_rows(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO courses (course_id, semester, discovered_at) "
                "VALUES (:c, '2026_S2', :t)"
            ),
            {"c": "course-v1:O'Reilly+ML_101%+2026_S2", "t": STAMP},
        )
        connection.execute(
            sa.text(
                "INSERT INTO student_features (user_id, course_id, mooc_grade_percentage, "
                "days_since_last_activity, created_at, updated_at) "
                "VALUES (7, :c, 61.5, 3, :t, :t)"
            ),
            {"c": "course-v1:O'Reilly+ML_101%+2026_S2", "t": STAMP},
        )
        connection.execute(
            sa.text(
                "INSERT INTO training_data (user_id, course_id, semester, snapshot_week, "
                "mooc_grade_percentage, is_passed, source, created_at) "
                "VALUES (7, 'c1', '2026_S1', 3, 40.0, 1, 'semester_close', :t)"
            ),
            {"t": STAMP},
        )


def test_fresh_warehouse_is_created_at_the_newest_revision(db_url):
    engine = get_engine(db_url)
    report = create_schema(engine)
    assert set(report["tables"]) == set(s.metadata.tables)
    assert current_revision(engine) == head_revision()
    assert create_schema(engine) == {"tables": [], "triggers": [], "revisions": []}


def test_release_before_alembic_upgrades_in_place(db_url):
    engine = get_engine(db_url)
    _apply_release_ddl(engine)
    _seed_release_rows(engine)
    assert current_revision(engine) is None

    report = create_schema(engine)
    assert report["tables"] == []  # every table came through a revision, none from scratch
    assert report["revisions"] and report["revisions"][-1] == head_revision()
    assert current_revision(engine) == head_revision()
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert set(s.metadata.tables) <= set(inspector.get_table_names())
        for table in s.metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            assert {column.name for column in table.columns} <= present, table.name
        feature = connection.execute(sa.select(s.student_features)).mappings().one()
        kept = connection.execute(sa.select(s.training_data)).mappings().one()
    assert feature["mooc_grade_percentage"] == 61.5 and feature["days_since_last_activity"] == 3
    assert kept["mooc_grade_percentage"] == 40.0 and kept["is_passed"]
    # The insert-only triggers of that release still guard training_data.
    with pytest.raises(sa.exc.DatabaseError, match="insert-only"), engine.begin() as connection:
        connection.execute(sa.delete(s.training_data))
    # Upgraded once: a second call changes nothing.
    assert create_schema(engine)["revisions"] == []
