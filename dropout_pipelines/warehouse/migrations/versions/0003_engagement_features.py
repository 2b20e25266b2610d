"""Engagement features from the click-stream: counts and active days in total and over the
last 7/14/28 days, the trend, distinct activities, statements per kind, percentiles within
the course, registration timing and unenrolment, on features, snapshots and training rows.

Revision ID: 0003_engagement_features
Revises: 0002_incremental_ingestion
"""

from alembic import op

from dropout_pipelines.warehouse.migrations.steps import add_columns_if_missing
from dropout_pipelines.warehouse.schema import engagement_feature_columns

revision = "0003_engagement_features"
down_revision = "0002_incremental_ingestion"
branch_labels = None
depends_on = None

TABLES = ("student_features", "feature_snapshots", "training_data")


def upgrade() -> None:
    for table in TABLES:
        add_columns_if_missing(table, engagement_feature_columns())


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for column in engagement_feature_columns():
                batch.drop_column(column.name)
