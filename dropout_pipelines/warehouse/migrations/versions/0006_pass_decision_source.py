"""Who decided a learner passed: Open edX's course grades API (its final policy, exams
included), a fork's gradebook field, or the cutoff on percent (a fallback, counted).

Revision ID: 0006_pass_decision_source
Revises: 0005_prediction_reasons
"""

import sqlalchemy as sa
from alembic import op

from dropout_pipelines.warehouse.migrations.steps import add_columns_if_missing

revision = "0006_pass_decision_source"
down_revision = "0005_prediction_reasons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns_if_missing("mooc_grades", [sa.Column("passed_source", sa.String(16))])


def downgrade() -> None:
    with op.batch_alter_table("mooc_grades") as batch:
        batch.drop_column("passed_source")
