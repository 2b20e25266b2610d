"""The invariants closed: flags are 0/1 (a 2 would slip past the unique indexes built on
`= 1`), and a prediction's level agrees with its score.

MySQL/MariaDB add the CHECK constraints (after re-levelling rows whose level contradicts
their score, counted in the log). SQLite cannot add a CHECK to an existing table, so an
upgraded SQLite warehouse enforces the same conditions with BEFORE INSERT/UPDATE triggers;
a fresh one has the CHECKs in its tables.

Revision ID: 0004_invariant_checks
Revises: 0003_engagement_features
"""

import logging
import re

import sqlalchemy as sa
from alembic import op

from dropout_pipelines.warehouse.create import existing_triggers
from dropout_pipelines.warehouse.schema import (
    HIGH_RISK_FROM,
    INVARIANT_CHECKS,
    LEVEL_MATCHES_SCORE,
    MEDIUM_RISK_FROM,
)

revision = "0004_invariant_checks"
down_revision = "0003_engagement_features"
branch_labels = None
depends_on = None

LOG = logging.getLogger(__name__)
COLUMNS = ("is_latest", "is_active", "is_default", "auto_predict", "risk_level", "fail_risk_score")


def _on_new_row(condition: str) -> str:
    return re.sub(rf"\b({'|'.join(COLUMNS)})\b", r"NEW.\1", condition)


def _relevel(connection: sa.Connection) -> int:
    derived = (
        f"CASE WHEN fail_risk_score >= {HIGH_RISK_FROM} THEN 'HIGH' "
        f"WHEN fail_risk_score >= {MEDIUM_RISK_FROM} THEN 'MEDIUM' ELSE 'LOW' END"
    )
    result = connection.exec_driver_sql(
        f"UPDATE predictions SET risk_level = {derived} WHERE NOT ({LEVEL_MATCHES_SCORE})"
    )
    return result.rowcount


def _existing_checks(connection: sa.Connection, table: str) -> set[str]:
    return {check["name"] for check in sa.inspect(connection).get_check_constraints(table)}


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        present = existing_triggers(connection)
        for table, checks in INVARIANT_CHECKS.items():
            if set(checks) <= _existing_checks(connection, table):
                continue  # created with the CHECKs already
            for name, condition in checks.items():
                for event in ("INSERT", "UPDATE"):
                    trigger = f"trg_{name}_{event.lower()}"
                    if trigger not in present:
                        connection.exec_driver_sql(
                            f"CREATE TRIGGER {trigger} BEFORE {event} ON {table} "
                            f"WHEN NOT ({_on_new_row(condition)}) "
                            f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: {name}'); END"
                        )
        return
    relevelled = _relevel(connection)
    if relevelled:
        LOG.warning("re-levelled %s predictions whose level contradicted their score", relevelled)
    for table, checks in INVARIANT_CHECKS.items():
        present = _existing_checks(connection, table)
        for name, condition in checks.items():
            if name not in present:
                op.create_check_constraint(name, table, condition)


def downgrade() -> None:
    connection = op.get_bind()
    for table, checks in INVARIANT_CHECKS.items():
        for name in checks:
            if connection.dialect.name == "sqlite":
                for event in ("insert", "update"):
                    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{name}_{event}")
            else:
                op.drop_constraint(name, table, type_="check")
