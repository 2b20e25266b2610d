"""Instructors' feedback on flagged students' predictions (the read API's "useful" button).

Revision ID: 0008_prediction_feedback
Revises: 0007_assessments
"""

from alembic import op

from dropout_pipelines.warehouse.migrations.steps import create_tables_if_missing

revision = "0008_prediction_feedback"
down_revision = "0007_assessments"
branch_labels = None
depends_on = None

TABLES = ("prediction_feedback",)


def upgrade() -> None:
    create_tables_if_missing(op.get_bind(), TABLES)


def downgrade() -> None:
    for name in reversed(TABLES):
        op.drop_table(name)
