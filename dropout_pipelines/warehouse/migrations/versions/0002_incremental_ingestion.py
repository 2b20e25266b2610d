"""Incremental ingestion: the LRS cursor per course and the compact click-stream tables
(daily activity, first visits, scored problem submissions).

Revision ID: 0002_incremental_ingestion
Revises: 0001_release_20261202
"""

from alembic import op

from dropout_pipelines.warehouse.migrations.steps import create_tables_if_missing

revision = "0002_incremental_ingestion"
down_revision = "0001_release_20261202"
branch_labels = None
depends_on = None

TABLES = ("lrs_cursors", "learner_activity_daily", "learner_first_visits", "assessment_attempts")


def upgrade() -> None:
    create_tables_if_missing(op.get_bind(), TABLES)


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
