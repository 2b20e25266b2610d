"""The v1 `raw_data` table (SPEC §4): the input of the legacy migration.

Kept in its own MetaData: it is not part of the V2 schema, and real legacy tables drift
from it (missing and extra columns), so the migration reflects the live table and uses
this definition only to know which columns it understands.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from dropout_pipelines.warehouse.schema import BASE_FEATURE_NAMES, MYSQL_TABLE_OPTIONS

LEGACY_TABLE_NAME = "raw_data"
# 0/1 flags are TINYINT in the v1 MySQL table (SPEC §4).
Flag = sa.SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")

legacy_metadata = sa.MetaData()

raw_data_v1 = sa.Table(
    LEGACY_TABLE_NAME,
    legacy_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("course_id", sa.String(255), nullable=False),
    sa.Column("username", sa.String(255)),
    sa.Column("full_name", sa.String(255)),
    sa.Column("email", sa.String(255)),
    sa.Column("mooc_grade_percentage", sa.Float),
    sa.Column("mooc_completion_rate", sa.Float),
    sa.Column("mooc_is_passed", Flag),
    sa.Column("mooc_letter_grade", sa.String(16)),
    sa.Column("h5p_total_score", sa.Float),
    sa.Column("h5p_max_score", sa.Float),
    sa.Column("h5p_completion_rate", sa.Float),
    sa.Column("h5p_time_spent_minutes", sa.Float),
    sa.Column("h5p_contents_attempted", sa.Integer),
    sa.Column("days_since_last_activity", sa.Integer),
    sa.Column("fail_risk_score", sa.Float),
    sa.Column("risk_level", sa.String(16)),
    sa.Column("predicted_at", sa.DateTime),
    sa.Column("is_passed", Flag),
    sa.Column("is_dropout", Flag),
    sa.Column("final_grade", sa.Float),
    sa.Column("semester", sa.String(64)),
    sa.Column("created_at", sa.DateTime),
    sa.Column("updated_at", sa.DateTime),
    **MYSQL_TABLE_OPTIONS,
)

LEGACY_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in raw_data_v1.columns)
REQUIRED_LEGACY_COLUMNS: tuple[str, ...] = ("user_id", "course_id")
# The v1 feature columns: the V2 base features that raw_data holds under the same name.
LEGACY_FEATURE_NAMES: tuple[str, ...] = tuple(
    name for name in LEGACY_COLUMN_NAMES if name in BASE_FEATURE_NAMES
)
