"""Each prediction keeps its top reasons (SHAP: feature, value, contribution), so an
instructor sees why a student is flagged.

Revision ID: 0005_prediction_reasons
Revises: 0004_invariant_checks
"""

import sqlalchemy as sa
from alembic import op

from dropout_pipelines.warehouse.migrations.steps import add_columns_if_missing

revision = "0005_prediction_reasons"
down_revision = "0004_invariant_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_columns_if_missing("predictions", [sa.Column("reasons", sa.JSON)])


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("reasons")
