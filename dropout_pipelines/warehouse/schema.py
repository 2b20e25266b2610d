"""The V2 warehouse schema, defined once (SQLAlchemy Core) for SQLite and MySQL/MariaDB.

Invariants the database itself must enforce (not only the code) live here too:
one latest serving prediction per student and course, and one default model, both as
unique indexes over generated columns (neither backend of MySQL/MariaDB has partial
indexes; a NULL never collides in a unique index on any of the three engines).
The insert-only triggers of `training_data` are in `triggers.py`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

MYSQL_TABLE_OPTIONS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4"}

# An auto-increment id: BIGINT on MySQL, INTEGER (the rowid alias) on SQLite.
AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UserId = sa.BigInteger
CourseId = sa.String(255)
Semester = sa.String(64)
ModelName = sa.String(128)
ModelVersion = sa.String(64)
# Microsecond timestamps on MySQL/MariaDB, spelled out: Dagster's MySQL storage registers a
# global DATETIME → DATETIME(6) compile rule, so a bare DateTime would render differently
# depending on whether Dagster's storage was imported.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

RISK_LEVELS = ("LOW", "MEDIUM", "HIGH")
# SPEC thresholds: LOW < 40 ≤ MEDIUM < 70 ≤ HIGH (the database enforces them too).
MEDIUM_RISK_FROM = 40.0
HIGH_RISK_FROM = 70.0
PURPOSES = ("serving", "shadow")
PREDICT_FREQUENCIES = ("hourly", "daily", "weekly", "manual")
# Where a training row came from: the one-off legacy migration, or a closed semester.
LEGACY_SOURCE = "legacy_migration"
SEMESTER_SOURCE = "semester_close"
TRAINING_SOURCES = (LEGACY_SOURCE, SEMESTER_SOURCE)
# The run_id of the v1 predictions carried over by the migration.
LEGACY_RUN_ID = LEGACY_SOURCE
# The run_id of a prediction made on demand for one student (the read API's detail view).
ON_DEMAND_RUN_ID = "on_demand"


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


def base_feature_columns() -> list[sa.Column]:
    """Grade, completion, H5P and activity-age features (the first release's set)."""
    return [
        sa.Column("mooc_grade_percentage", sa.Double),
        sa.Column("mooc_completion_rate", sa.Double),
        sa.Column("mooc_is_passed", sa.Boolean),
        sa.Column("mooc_letter_grade", sa.String(16)),
        sa.Column("h5p_total_score", sa.Double),
        sa.Column("h5p_max_score", sa.Double),
        sa.Column("h5p_score_rate", sa.Double),
        sa.Column("h5p_contents_attempted", sa.Integer),
        sa.Column("h5p_completion_rate", sa.Double),
        sa.Column("h5p_time_spent_minutes", sa.Double),
        sa.Column("days_since_last_activity", sa.Integer),
        sa.Column("days_enrolled", sa.Integer),
        sa.Column("week_of_course", sa.Integer),
    ]


ENGAGEMENT_COUNTS = (
    "statements_total", "active_days_total", "statements_7d", "statements_14d",
    "statements_28d", "active_days_7d", "active_days_14d", "active_days_28d",
    "distinct_activities", "navigation_statements", "video_statements", "problem_statements",
    "h5p_statements", "forum_statements",
)  # fmt: skip
ASSESSMENT_COUNTS = ("assessments_due", "assessments_submitted", "assessments_missed")
ASSESSMENT_RATIOS = ("mean_lateness_days", "mean_submitted_score")
ENGAGEMENT_RATIOS = (
    "statements_trend_7d", "statements_total_pct", "statements_7d_pct", "statements_14d_pct",
    "statements_28d_pct", "active_days_7d_pct", "active_days_14d_pct", "active_days_28d_pct",
    "active_days_total_pct", "distinct_activities_pct", "days_since_last_activity_pct",
    "enrolled_days_before_start",
)  # fmt: skip


def engagement_feature_columns() -> list[sa.Column]:
    """Click-stream engagement as of the snapshot moment (`features/engagement.py`)."""
    return [
        *(sa.Column(name, sa.Integer) for name in ENGAGEMENT_COUNTS),
        *(sa.Column(name, sa.Double) for name in ENGAGEMENT_RATIOS),
        sa.Column("is_unenrolled", sa.Boolean),
    ]


def flag_check(*columns: str) -> str:
    """0/1 only: a flag stored as 2 would slip past the unique indexes built on `= 1`."""
    return " AND ".join(f"{column} IN (0, 1)" for column in columns)


LEVEL_MATCHES_SCORE = (
    f"(risk_level = 'HIGH' AND fail_risk_score >= {HIGH_RISK_FROM})"
    f" OR (risk_level = 'MEDIUM' AND fail_risk_score >= {MEDIUM_RISK_FROM}"
    f" AND fail_risk_score < {HIGH_RISK_FROM})"
    f" OR (risk_level = 'LOW' AND fail_risk_score < {MEDIUM_RISK_FROM})"
)
# Checks added after the first release (revision 0004); SQLite enforces them on upgraded
# warehouses with triggers (it cannot add a CHECK to an existing table).
INVARIANT_CHECKS: dict[str, dict[str, str]] = {
    "predictions": {
        "ck_predictions_flags": flag_check("is_latest"),
        "ck_predictions_level_matches_score": LEVEL_MATCHES_SCORE,
    },
    "model_registry": {"ck_model_registry_flags": flag_check("is_active", "is_default")},
    "course_model_mapping": {"ck_mapping_flags": flag_check("auto_predict")},
}


def invariant_checks(table: str) -> list[sa.CheckConstraint]:
    return [sa.CheckConstraint(sql, name=name) for name, sql in INVARIANT_CHECKS[table].items()]


def assessment_feature_columns() -> list[sa.Column]:
    """Assessment timing from the course outline's due dates (`features/assessments.py`)."""
    return [
        *(sa.Column(name, sa.Integer) for name in ASSESSMENT_COUNTS),
        *(sa.Column(name, sa.Double) for name in ASSESSMENT_RATIOS),
    ]


def feature_columns() -> list[sa.Column]:
    """The per-student feature columns shared by features, snapshots and training rows."""
    return [*base_feature_columns(), *engagement_feature_columns(), *assessment_feature_columns()]


BASE_FEATURE_NAMES: tuple[str, ...] = tuple(column.name for column in base_feature_columns())

FEATURE_COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in feature_columns())

courses = sa.Table(
    "courses",
    metadata,
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("display_name", sa.String(255)),
    sa.Column("org", sa.String(255)),
    sa.Column("semester", Semester),
    sa.Column("start_at", Timestamp),
    sa.Column("end_at", Timestamp),
    sa.Column("discovered_at", Timestamp, nullable=False),
    sa.Column("final_grades_fetched_at", Timestamp),
    # Content blocks of the outline (units, videos, problems, H5P): completion's denominator.
    sa.Column("content_blocks", sa.Integer),
    sa.Index("ix_courses_semester", "semester"),
    **MYSQL_TABLE_OPTIONS,
)

enrollments = sa.Table(
    "enrollments",
    metadata,
    sa.Column("user_id", UserId, primary_key=True, autoincrement=False),
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("username", sa.String(255)),
    sa.Column("full_name", sa.String(255)),
    sa.Column("email", sa.String(255)),
    sa.Column("mode", sa.String(32)),
    sa.Column("is_active", sa.Boolean),
    sa.Column("enrolled_at", Timestamp),
    sa.Column("fetched_at", Timestamp, nullable=False),
    sa.Index("ix_enrollments_course", "course_id"),
    **MYSQL_TABLE_OPTIONS,
)

mooc_grades = sa.Table(
    "mooc_grades",
    metadata,
    sa.Column("user_id", UserId, primary_key=True, autoincrement=False),
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("grade_percentage", sa.Double),
    sa.Column("letter_grade", sa.String(16)),
    sa.Column("passed", sa.Boolean),
    # Who decided `passed`: open_edx (course grades API) | gradebook | cutoff (percent).
    sa.Column("passed_source", sa.String(16)),
    sa.Column("section_breakdown", sa.JSON),
    sa.Column("fetched_at", Timestamp, nullable=False),
    sa.CheckConstraint(
        "grade_percentage IS NULL OR (grade_percentage >= 0 AND grade_percentage <= 100)",
        name="ck_mooc_grades_percentage",
    ),
    sa.Index("ix_mooc_grades_course", "course_id"),
    **MYSQL_TABLE_OPTIONS,
)

h5p_results = sa.Table(
    "h5p_results",
    metadata,
    sa.Column("statement_id", sa.String(64), primary_key=True),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("content_id", sa.String(512), nullable=False),
    sa.Column("score_raw", sa.Double),
    sa.Column("score_max", sa.Double),
    sa.Column("completed", sa.Boolean),
    sa.Column("success", sa.Boolean),
    sa.Column("duration_s", sa.Double),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Index("ix_h5p_results_course_user", "course_id", "user_id"),
    **MYSQL_TABLE_OPTIONS,
)

# The LRS position reached per course: the next refresh asks only for statements stored
# after `last_stored` (minus an overlap for late-stored statements); `overlap_ids` are the
# statement ids already counted inside that overlap, so none is counted twice.
lrs_cursors = sa.Table(
    "lrs_cursors",
    metadata,
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("last_stored", Timestamp),
    sa.Column("overlap_ids", sa.JSON, nullable=False),
    sa.Column("statements_total", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

ACTIVITY_KINDS = ("navigation", "video", "problem", "h5p", "forum", "enrollment", "other")

# Compact click-stream: statements per student, course, UTC day and activity kind. Filled
# incrementally by ingestion; every engagement feature, live or rebuilt, reads it.
learner_activity_daily = sa.Table(
    "learner_activity_daily",
    metadata,
    sa.Column("user_id", UserId, primary_key=True, autoincrement=False),
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("activity_day", sa.Date, primary_key=True),
    sa.Column("activity_kind", sa.String(16), primary_key=True),
    sa.Column("statements", sa.Integer, nullable=False),
    # Distinct activities of that day; a day split across two refreshes keeps the larger
    # of the two counts (a lower bound of the true union).
    sa.Column("distinct_activities", sa.Integer, nullable=False),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.Column("last_at", Timestamp, nullable=False),
    sa.CheckConstraint(_in("activity_kind", ACTIVITY_KINDS), name="ck_activity_daily_kind"),
    sa.Index("ix_activity_daily_course_day", "course_id", "activity_day"),
    **MYSQL_TABLE_OPTIONS,
)

# The first time each student touched each activity of a course (activity ids hashed:
# IRIs are long). Distinct-activity counts and completion as of any moment come from it.
learner_first_visits = sa.Table(
    "learner_first_visits",
    metadata,
    sa.Column("user_id", UserId, primary_key=True, autoincrement=False),
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("activity_key", sa.String(40), primary_key=True),
    sa.Column("activity_kind", sa.String(16), nullable=False),
    sa.Column("first_at", Timestamp, nullable=False),
    sa.CheckConstraint(_in("activity_kind", ACTIVITY_KINDS), name="ck_first_visits_kind"),
    sa.Index("ix_first_visits_course", "course_id", "first_at"),
    **MYSQL_TABLE_OPTIONS,
)

# Scored problem submissions (non-H5P), one row per xAPI statement: the history a past
# week's grade so far is rebuilt from.
assessment_attempts = sa.Table(
    "assessment_attempts",
    metadata,
    sa.Column("statement_id", sa.String(64), primary_key=True),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("block_id", sa.String(512), nullable=False),
    sa.Column("score_raw", sa.Double),
    sa.Column("score_max", sa.Double),
    sa.Column("occurred_at", Timestamp, nullable=False),
    sa.Index("ix_assessment_attempts_course_user", "course_id", "user_id"),
    **MYSQL_TABLE_OPTIONS,
)

# The graded problems of a course's outline (Course Blocks API): which subsection and
# assignment type each belongs to, its points, and the subsection's due date.
course_assessments = sa.Table(
    "course_assessments",
    metadata,
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("problem_id", sa.String(255), primary_key=True),
    sa.Column("subsection_id", sa.String(255), nullable=False),
    sa.Column("assignment_type", sa.String(64)),
    sa.Column("due_at", Timestamp),
    sa.Column("points", sa.Double),
    **MYSQL_TABLE_OPTIONS,
)

# The course's grading policy: weight, dropped and counted subsections per assignment type.
course_grading_policy = sa.Table(
    "course_grading_policy",
    metadata,
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("assignment_type", sa.String(64), primary_key=True),
    sa.Column("weight", sa.Double, nullable=False),
    sa.Column("drop_count", sa.Integer, nullable=False),
    sa.Column("min_count", sa.Integer, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

student_features = sa.Table(
    "student_features",
    metadata,
    sa.Column("user_id", UserId, primary_key=True, autoincrement=False),
    sa.Column("course_id", CourseId, primary_key=True),
    *feature_columns(),
    sa.Column("extra_features", sa.JSON),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_student_features_course", "course_id"),
    **MYSQL_TABLE_OPTIONS,
)

feature_snapshots = sa.Table(
    "feature_snapshots",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("snapshot_week", sa.Integer, nullable=False),
    *feature_columns(),
    sa.Column("captured_at", Timestamp, nullable=False),
    sa.UniqueConstraint("user_id", "course_id", "snapshot_week", name="uq_feature_snapshots_week"),
    sa.Index("ix_feature_snapshots_course_week", "course_id", "snapshot_week"),
    **MYSQL_TABLE_OPTIONS,
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("model_name", ModelName, nullable=False),
    sa.Column("model_version", ModelVersion, nullable=False),
    sa.Column("fail_risk_score", sa.Double, nullable=False),
    sa.Column("risk_level", sa.String(8), nullable=False),
    sa.Column("is_latest", sa.Boolean, nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("ab_arm", sa.String(32)),
    sa.Column("snapshot_grade", sa.Double),
    sa.Column("snapshot_completion_rate", sa.Double),
    sa.Column("snapshot_week", sa.Integer),
    # Why the student is flagged: up to three {feature, value, contribution} (SHAP).
    sa.Column("reasons", sa.JSON),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("predicted_at", Timestamp, nullable=False),
    # 1 for the latest serving row, NULL otherwise: the unique index below then allows
    # exactly one latest serving row per (user_id, course_id) and any number of others.
    sa.Column(
        "latest_serving_slot",
        sa.Integer,
        sa.Computed("CASE WHEN is_latest = 1 AND purpose = 'serving' THEN 1 END", persisted=True),
    ),
    sa.CheckConstraint(
        "fail_risk_score >= 0 AND fail_risk_score <= 100", name="ck_predictions_score_range"
    ),
    sa.CheckConstraint(_in("risk_level", RISK_LEVELS), name="ck_predictions_risk_level"),
    sa.CheckConstraint(_in("purpose", PURPOSES), name="ck_predictions_purpose"),
    sa.CheckConstraint(
        "purpose = 'serving' OR is_latest = 0", name="ck_predictions_shadow_never_latest"
    ),
    *invariant_checks("predictions"),
    sa.Index(
        "uq_predictions_latest_serving",
        "user_id",
        "course_id",
        "latest_serving_slot",
        unique=True,
    ),
    sa.Index("ix_predictions_course_time", "course_id", "predicted_at"),
    # Finds a course's latest serving rows without scanning its whole history.
    sa.Index("ix_predictions_course_latest", "course_id", "latest_serving_slot"),
    sa.Index("ix_predictions_run", "run_id"),
    **MYSQL_TABLE_OPTIONS,
)

training_data = sa.Table(
    "training_data",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("semester", Semester, nullable=False),
    sa.Column("snapshot_week", sa.Integer),
    *feature_columns(),
    sa.Column("extra_features", sa.JSON),
    sa.Column("is_passed", sa.Boolean),
    sa.Column("is_dropout", sa.Boolean),
    sa.Column("final_grade", sa.Double),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Legacy rows have no week (NULL); -1 makes them unique per student and semester too.
    sa.Column(
        "snapshot_week_key",
        sa.Integer,
        sa.Computed("COALESCE(snapshot_week, -1)", persisted=True),
    ),
    sa.CheckConstraint(_in("source", TRAINING_SOURCES), name="ck_training_data_source"),
    sa.Index(
        "uq_training_data_row",
        "user_id",
        "course_id",
        "semester",
        "snapshot_week_key",
        unique=True,
    ),
    sa.Index("ix_training_data_semester", "semester", "snapshot_week"),
    **MYSQL_TABLE_OPTIONS,
)

model_registry = sa.Table(
    "model_registry",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("model_name", ModelName, nullable=False),
    sa.Column("model_version", ModelVersion, nullable=False),
    sa.Column("model_path", sa.String(1024), nullable=False),
    sa.Column("features_csv_path", sa.String(1024)),
    sa.Column("model_type", sa.String(32), nullable=False),
    sa.Column("domain", sa.String(64)),
    sa.Column("metrics", sa.JSON),
    sa.Column("accuracy", sa.Double),
    sa.Column("trained_on", sa.JSON),
    sa.Column("training_rows", sa.Integer),
    sa.Column("is_active", sa.Boolean, nullable=False),
    sa.Column("is_default", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("run_id", sa.String(64)),
    # 1 for the default model, NULL otherwise: at most one default, enforced by a unique index.
    sa.Column(
        "default_slot",
        sa.Integer,
        sa.Computed("CASE WHEN is_default = 1 THEN 1 END", persisted=True),
    ),
    sa.UniqueConstraint("model_name", "model_version", name="uq_model_registry_version"),
    sa.CheckConstraint("is_default = 0 OR is_active = 1", name="ck_model_registry_default_active"),
    *invariant_checks("model_registry"),
    sa.Index("uq_model_registry_default", "default_slot", unique=True),
    **MYSQL_TABLE_OPTIONS,
)

model_training_lineage = sa.Table(
    "model_training_lineage",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("model_name", ModelName, nullable=False),
    sa.Column("model_version", ModelVersion, nullable=False),
    sa.Column("semester", Semester, nullable=False),
    sa.Column("training_rows", sa.Integer, nullable=False),
    sa.Column("data_hash", sa.String(64), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint(
        "model_name", "model_version", "semester", name="uq_lineage_model_semester"
    ),
    **MYSQL_TABLE_OPTIONS,
)

course_model_mapping = sa.Table(
    "course_model_mapping",
    metadata,
    sa.Column("course_id", CourseId, primary_key=True),
    sa.Column("model_name", ModelName, nullable=False),
    sa.Column("model_version", ModelVersion),
    sa.Column("auto_predict", sa.Boolean, nullable=False),
    sa.Column("predict_frequency", sa.String(16), nullable=False),
    sa.Column("shadow_model_name", ModelName),
    sa.Column("ab_model_name", ModelName),
    sa.Column("ab_share", sa.Double),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.CheckConstraint(_in("predict_frequency", PREDICT_FREQUENCIES), name="ck_mapping_frequency"),
    sa.CheckConstraint(
        "ab_share IS NULL OR (ab_share >= 0 AND ab_share <= 1)", name="ck_mapping_ab_share"
    ),
    *invariant_checks("course_model_mapping"),
    **MYSQL_TABLE_OPTIONS,
)

# Instructors' judgement of a flagged student's prediction ("useful" or not): one row per
# prediction and instructor (a changed mind replaces it), read by the model comparison.
prediction_feedback = sa.Table(
    "prediction_feedback",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("prediction_id", sa.BigInteger, nullable=False),
    sa.Column("user_id", UserId, nullable=False),
    sa.Column("course_id", CourseId, nullable=False),
    sa.Column("model_name", ModelName, nullable=False),
    sa.Column("model_version", ModelVersion, nullable=False),
    sa.Column("useful", sa.Boolean, nullable=False),
    sa.Column("given_by", sa.String(64), nullable=False),
    sa.Column("given_at", Timestamp, nullable=False),
    sa.UniqueConstraint("prediction_id", "given_by", name="uq_prediction_feedback_judge"),
    sa.Index("ix_prediction_feedback_course", "course_id", "model_name", "model_version"),
    **MYSQL_TABLE_OPTIONS,
)

legacy_migrations = sa.Table(
    "legacy_migrations",
    metadata,
    sa.Column("id", AutoId, primary_key=True, autoincrement=True),
    sa.Column("source_table", sa.String(64), nullable=False),
    sa.Column("source_fingerprint", sa.String(64), nullable=False),
    sa.Column("raw_rows", sa.Integer, nullable=False),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("migrated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("source_table", name="uq_legacy_migrations_source"),
    **MYSQL_TABLE_OPTIONS,
)
