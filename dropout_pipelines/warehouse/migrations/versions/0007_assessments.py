"""Assessment timing and the grading policy: the course outline's graded problems and due
dates, the policy's weights, completion's denominator, and the timing features.

Revision ID: 0007_assessments
Revises: 0006_pass_decision_source
"""

import sqlalchemy as sa
from alembic import op

from dropout_pipelines.warehouse.migrations.steps import (
    add_columns_if_missing,
    create_tables_if_missing,
)
from dropout_pipelines.warehouse.schema import assessment_feature_columns

revision = "0007_assessments"
down_revision = "0006_pass_decision_source"
branch_labels = None
depends_on = None

TABLES = ("course_assessments", "course_grading_policy")
FEATURE_TABLES = ("student_features", "feature_snapshots", "training_data")


def upgrade() -> None:
    create_tables_if_missing(op.get_bind(), TABLES)
    add_columns_if_missing("courses", [sa.Column("content_blocks", sa.Integer)])
    for table in FEATURE_TABLES:
        add_columns_if_missing(table, assessment_feature_columns())


def downgrade() -> None:
    for table in FEATURE_TABLES:
        with op.batch_alter_table(table) as batch:
            for column in assessment_feature_columns():
                batch.drop_column(column.name)
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("content_blocks")
    for name in reversed(TABLES):
        op.drop_table(name)
