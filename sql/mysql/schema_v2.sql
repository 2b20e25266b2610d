-- dropout_pipelines V2 warehouse schema for MySQL 8 / MariaDB 10.11.
-- Generated from dropout_pipelines/warehouse/schema.py by
-- `python -m dropout_pipelines.warehouse.ddl` (do not edit by hand).

CREATE TABLE assessment_attempts (
	statement_id VARCHAR(64) NOT NULL,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	block_id VARCHAR(512) NOT NULL,
	score_raw DOUBLE,
	score_max DOUBLE,
	occurred_at DATETIME(6) NOT NULL,
	PRIMARY KEY (statement_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_assessment_attempts_course_user ON assessment_attempts (course_id, user_id);

CREATE TABLE course_assessments (
	course_id VARCHAR(255) NOT NULL,
	problem_id VARCHAR(255) NOT NULL,
	subsection_id VARCHAR(255) NOT NULL,
	assignment_type VARCHAR(64),
	due_at DATETIME(6),
	points DOUBLE,
	PRIMARY KEY (course_id, problem_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE course_grading_policy (
	course_id VARCHAR(255) NOT NULL,
	assignment_type VARCHAR(64) NOT NULL,
	weight DOUBLE NOT NULL,
	drop_count INTEGER NOT NULL,
	min_count INTEGER NOT NULL,
	PRIMARY KEY (course_id, assignment_type)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE course_model_mapping (
	course_id VARCHAR(255) NOT NULL,
	model_name VARCHAR(128) NOT NULL,
	model_version VARCHAR(64),
	auto_predict BOOL NOT NULL,
	predict_frequency VARCHAR(16) NOT NULL,
	shadow_model_name VARCHAR(128),
	ab_model_name VARCHAR(128),
	ab_share DOUBLE,
	updated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (course_id),
	CONSTRAINT ck_mapping_frequency CHECK (predict_frequency IN ('hourly', 'daily', 'weekly', 'manual')),
	CONSTRAINT ck_mapping_ab_share CHECK (ab_share IS NULL OR (ab_share >= 0 AND ab_share <= 1)),
	CONSTRAINT ck_mapping_flags CHECK (auto_predict IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE courses (
	course_id VARCHAR(255) NOT NULL,
	display_name VARCHAR(255),
	org VARCHAR(255),
	semester VARCHAR(64),
	start_at DATETIME(6),
	end_at DATETIME(6),
	discovered_at DATETIME(6) NOT NULL,
	final_grades_fetched_at DATETIME(6),
	content_blocks INTEGER,
	PRIMARY KEY (course_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_courses_semester ON courses (semester);

CREATE TABLE enrollments (
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	username VARCHAR(255),
	full_name VARCHAR(255),
	email VARCHAR(255),
	mode VARCHAR(32),
	is_active BOOL,
	enrolled_at DATETIME(6),
	fetched_at DATETIME(6) NOT NULL,
	PRIMARY KEY (user_id, course_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_enrollments_course ON enrollments (course_id);

CREATE TABLE feature_snapshots (
	id BIGINT NOT NULL AUTO_INCREMENT,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	snapshot_week INTEGER NOT NULL,
	mooc_grade_percentage DOUBLE,
	mooc_completion_rate DOUBLE,
	mooc_is_passed BOOL,
	mooc_letter_grade VARCHAR(16),
	h5p_total_score DOUBLE,
	h5p_max_score DOUBLE,
	h5p_score_rate DOUBLE,
	h5p_contents_attempted INTEGER,
	h5p_completion_rate DOUBLE,
	h5p_time_spent_minutes DOUBLE,
	days_since_last_activity INTEGER,
	days_enrolled INTEGER,
	week_of_course INTEGER,
	statements_total INTEGER,
	active_days_total INTEGER,
	statements_7d INTEGER,
	statements_14d INTEGER,
	statements_28d INTEGER,
	active_days_7d INTEGER,
	active_days_14d INTEGER,
	active_days_28d INTEGER,
	distinct_activities INTEGER,
	navigation_statements INTEGER,
	video_statements INTEGER,
	problem_statements INTEGER,
	h5p_statements INTEGER,
	forum_statements INTEGER,
	statements_trend_7d DOUBLE,
	statements_total_pct DOUBLE,
	statements_7d_pct DOUBLE,
	statements_14d_pct DOUBLE,
	statements_28d_pct DOUBLE,
	active_days_7d_pct DOUBLE,
	active_days_14d_pct DOUBLE,
	active_days_28d_pct DOUBLE,
	active_days_total_pct DOUBLE,
	distinct_activities_pct DOUBLE,
	days_since_last_activity_pct DOUBLE,
	enrolled_days_before_start DOUBLE,
	is_unenrolled BOOL,
	assessments_due INTEGER,
	assessments_submitted INTEGER,
	assessments_missed INTEGER,
	mean_lateness_days DOUBLE,
	mean_submitted_score DOUBLE,
	captured_at DATETIME(6) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_feature_snapshots_week UNIQUE (user_id, course_id, snapshot_week)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_feature_snapshots_course_week ON feature_snapshots (course_id, snapshot_week);

CREATE TABLE h5p_results (
	statement_id VARCHAR(64) NOT NULL,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	content_id VARCHAR(512) NOT NULL,
	score_raw DOUBLE,
	score_max DOUBLE,
	completed BOOL,
	success BOOL,
	duration_s DOUBLE,
	occurred_at DATETIME(6) NOT NULL,
	PRIMARY KEY (statement_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_h5p_results_course_user ON h5p_results (course_id, user_id);

CREATE TABLE learner_activity_daily (
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	activity_day DATE NOT NULL,
	activity_kind VARCHAR(16) NOT NULL,
	statements INTEGER NOT NULL,
	distinct_activities INTEGER NOT NULL,
	first_at DATETIME(6) NOT NULL,
	last_at DATETIME(6) NOT NULL,
	PRIMARY KEY (user_id, course_id, activity_day, activity_kind),
	CONSTRAINT ck_activity_daily_kind CHECK (activity_kind IN ('navigation', 'video', 'problem', 'h5p', 'forum', 'enrollment', 'other'))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_activity_daily_course_day ON learner_activity_daily (course_id, activity_day);

CREATE TABLE learner_first_visits (
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	activity_key VARCHAR(40) NOT NULL,
	activity_kind VARCHAR(16) NOT NULL,
	first_at DATETIME(6) NOT NULL,
	PRIMARY KEY (user_id, course_id, activity_key),
	CONSTRAINT ck_first_visits_kind CHECK (activity_kind IN ('navigation', 'video', 'problem', 'h5p', 'forum', 'enrollment', 'other'))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_first_visits_course ON learner_first_visits (course_id, first_at);

CREATE TABLE legacy_migrations (
	id BIGINT NOT NULL AUTO_INCREMENT,
	source_table VARCHAR(64) NOT NULL,
	source_fingerprint VARCHAR(64) NOT NULL,
	raw_rows INTEGER NOT NULL,
	summary JSON NOT NULL,
	run_id VARCHAR(64) NOT NULL,
	migrated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_legacy_migrations_source UNIQUE (source_table)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE lrs_cursors (
	course_id VARCHAR(255) NOT NULL,
	last_stored DATETIME(6),
	overlap_ids JSON NOT NULL,
	statements_total BIGINT NOT NULL,
	updated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (course_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE model_registry (
	id BIGINT NOT NULL AUTO_INCREMENT,
	model_name VARCHAR(128) NOT NULL,
	model_version VARCHAR(64) NOT NULL,
	model_path VARCHAR(1024) NOT NULL,
	features_csv_path VARCHAR(1024),
	model_type VARCHAR(32) NOT NULL,
	domain VARCHAR(64),
	metrics JSON,
	accuracy DOUBLE,
	trained_on JSON,
	training_rows INTEGER,
	is_active BOOL NOT NULL,
	is_default BOOL NOT NULL,
	created_at DATETIME(6) NOT NULL,
	run_id VARCHAR(64),
	default_slot INTEGER GENERATED ALWAYS AS (CASE WHEN is_default = 1 THEN 1 END) STORED,
	PRIMARY KEY (id),
	CONSTRAINT uq_model_registry_version UNIQUE (model_name, model_version),
	CONSTRAINT ck_model_registry_default_active CHECK (is_default = 0 OR is_active = 1),
	CONSTRAINT ck_model_registry_flags CHECK (is_active IN (0, 1) AND is_default IN (0, 1))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE UNIQUE INDEX uq_model_registry_default ON model_registry (default_slot);

CREATE TABLE model_training_lineage (
	id BIGINT NOT NULL AUTO_INCREMENT,
	model_name VARCHAR(128) NOT NULL,
	model_version VARCHAR(64) NOT NULL,
	semester VARCHAR(64) NOT NULL,
	training_rows INTEGER NOT NULL,
	data_hash VARCHAR(64) NOT NULL,
	created_at DATETIME(6) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_lineage_model_semester UNIQUE (model_name, model_version, semester)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE TABLE mooc_grades (
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	grade_percentage DOUBLE,
	letter_grade VARCHAR(16),
	passed BOOL,
	passed_source VARCHAR(16),
	section_breakdown JSON,
	fetched_at DATETIME(6) NOT NULL,
	PRIMARY KEY (user_id, course_id),
	CONSTRAINT ck_mooc_grades_percentage CHECK (grade_percentage IS NULL OR (grade_percentage >= 0 AND grade_percentage <= 100))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_mooc_grades_course ON mooc_grades (course_id);

CREATE TABLE prediction_feedback (
	id BIGINT NOT NULL AUTO_INCREMENT,
	prediction_id BIGINT NOT NULL,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	model_name VARCHAR(128) NOT NULL,
	model_version VARCHAR(64) NOT NULL,
	useful BOOL NOT NULL,
	given_by VARCHAR(64) NOT NULL,
	given_at DATETIME(6) NOT NULL,
	PRIMARY KEY (id),
	CONSTRAINT uq_prediction_feedback_judge UNIQUE (prediction_id, given_by)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_prediction_feedback_course ON prediction_feedback (course_id, model_name, model_version);

CREATE TABLE predictions (
	id BIGINT NOT NULL AUTO_INCREMENT,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	model_name VARCHAR(128) NOT NULL,
	model_version VARCHAR(64) NOT NULL,
	fail_risk_score DOUBLE NOT NULL,
	risk_level VARCHAR(8) NOT NULL,
	is_latest BOOL NOT NULL,
	purpose VARCHAR(16) NOT NULL,
	ab_arm VARCHAR(32),
	snapshot_grade DOUBLE,
	snapshot_completion_rate DOUBLE,
	snapshot_week INTEGER,
	reasons JSON,
	run_id VARCHAR(64) NOT NULL,
	predicted_at DATETIME(6) NOT NULL,
	latest_serving_slot INTEGER GENERATED ALWAYS AS (CASE WHEN is_latest = 1 AND purpose = 'serving' THEN 1 END) STORED,
	PRIMARY KEY (id),
	CONSTRAINT ck_predictions_score_range CHECK (fail_risk_score >= 0 AND fail_risk_score <= 100),
	CONSTRAINT ck_predictions_risk_level CHECK (risk_level IN ('LOW', 'MEDIUM', 'HIGH')),
	CONSTRAINT ck_predictions_purpose CHECK (purpose IN ('serving', 'shadow')),
	CONSTRAINT ck_predictions_shadow_never_latest CHECK (purpose = 'serving' OR is_latest = 0),
	CONSTRAINT ck_predictions_flags CHECK (is_latest IN (0, 1)),
	CONSTRAINT ck_predictions_level_matches_score CHECK ((risk_level = 'HIGH' AND fail_risk_score >= 70.0) OR (risk_level = 'MEDIUM' AND fail_risk_score >= 40.0 AND fail_risk_score < 70.0) OR (risk_level = 'LOW' AND fail_risk_score < 40.0))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_predictions_course_latest ON predictions (course_id, latest_serving_slot);

CREATE INDEX ix_predictions_course_time ON predictions (course_id, predicted_at);

CREATE INDEX ix_predictions_run ON predictions (run_id);

CREATE UNIQUE INDEX uq_predictions_latest_serving ON predictions (user_id, course_id, latest_serving_slot);

CREATE TABLE student_features (
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	mooc_grade_percentage DOUBLE,
	mooc_completion_rate DOUBLE,
	mooc_is_passed BOOL,
	mooc_letter_grade VARCHAR(16),
	h5p_total_score DOUBLE,
	h5p_max_score DOUBLE,
	h5p_score_rate DOUBLE,
	h5p_contents_attempted INTEGER,
	h5p_completion_rate DOUBLE,
	h5p_time_spent_minutes DOUBLE,
	days_since_last_activity INTEGER,
	days_enrolled INTEGER,
	week_of_course INTEGER,
	statements_total INTEGER,
	active_days_total INTEGER,
	statements_7d INTEGER,
	statements_14d INTEGER,
	statements_28d INTEGER,
	active_days_7d INTEGER,
	active_days_14d INTEGER,
	active_days_28d INTEGER,
	distinct_activities INTEGER,
	navigation_statements INTEGER,
	video_statements INTEGER,
	problem_statements INTEGER,
	h5p_statements INTEGER,
	forum_statements INTEGER,
	statements_trend_7d DOUBLE,
	statements_total_pct DOUBLE,
	statements_7d_pct DOUBLE,
	statements_14d_pct DOUBLE,
	statements_28d_pct DOUBLE,
	active_days_7d_pct DOUBLE,
	active_days_14d_pct DOUBLE,
	active_days_28d_pct DOUBLE,
	active_days_total_pct DOUBLE,
	distinct_activities_pct DOUBLE,
	days_since_last_activity_pct DOUBLE,
	enrolled_days_before_start DOUBLE,
	is_unenrolled BOOL,
	assessments_due INTEGER,
	assessments_submitted INTEGER,
	assessments_missed INTEGER,
	mean_lateness_days DOUBLE,
	mean_submitted_score DOUBLE,
	extra_features JSON,
	created_at DATETIME(6) NOT NULL,
	updated_at DATETIME(6) NOT NULL,
	PRIMARY KEY (user_id, course_id)
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_student_features_course ON student_features (course_id);

CREATE TABLE training_data (
	id BIGINT NOT NULL AUTO_INCREMENT,
	user_id BIGINT NOT NULL,
	course_id VARCHAR(255) NOT NULL,
	semester VARCHAR(64) NOT NULL,
	snapshot_week INTEGER,
	mooc_grade_percentage DOUBLE,
	mooc_completion_rate DOUBLE,
	mooc_is_passed BOOL,
	mooc_letter_grade VARCHAR(16),
	h5p_total_score DOUBLE,
	h5p_max_score DOUBLE,
	h5p_score_rate DOUBLE,
	h5p_contents_attempted INTEGER,
	h5p_completion_rate DOUBLE,
	h5p_time_spent_minutes DOUBLE,
	days_since_last_activity INTEGER,
	days_enrolled INTEGER,
	week_of_course INTEGER,
	statements_total INTEGER,
	active_days_total INTEGER,
	statements_7d INTEGER,
	statements_14d INTEGER,
	statements_28d INTEGER,
	active_days_7d INTEGER,
	active_days_14d INTEGER,
	active_days_28d INTEGER,
	distinct_activities INTEGER,
	navigation_statements INTEGER,
	video_statements INTEGER,
	problem_statements INTEGER,
	h5p_statements INTEGER,
	forum_statements INTEGER,
	statements_trend_7d DOUBLE,
	statements_total_pct DOUBLE,
	statements_7d_pct DOUBLE,
	statements_14d_pct DOUBLE,
	statements_28d_pct DOUBLE,
	active_days_7d_pct DOUBLE,
	active_days_14d_pct DOUBLE,
	active_days_28d_pct DOUBLE,
	active_days_total_pct DOUBLE,
	distinct_activities_pct DOUBLE,
	days_since_last_activity_pct DOUBLE,
	enrolled_days_before_start DOUBLE,
	is_unenrolled BOOL,
	assessments_due INTEGER,
	assessments_submitted INTEGER,
	assessments_missed INTEGER,
	mean_lateness_days DOUBLE,
	mean_submitted_score DOUBLE,
	extra_features JSON,
	is_passed BOOL,
	is_dropout BOOL,
	final_grade DOUBLE,
	source VARCHAR(32) NOT NULL,
	created_at DATETIME(6) NOT NULL,
	snapshot_week_key INTEGER GENERATED ALWAYS AS (COALESCE(snapshot_week, -1)) STORED,
	PRIMARY KEY (id),
	CONSTRAINT ck_training_data_source CHECK (source IN ('legacy_migration', 'semester_close'))
)ENGINE=InnoDB CHARSET=utf8mb4;

CREATE INDEX ix_training_data_semester ON training_data (semester, snapshot_week);

CREATE UNIQUE INDEX uq_training_data_row ON training_data (user_id, course_id, semester, snapshot_week_key);

-- The Alembic revision this schema is (upgrades start from it).
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version (version_num) VALUES ('0008_prediction_feedback');

DELIMITER ;;

CREATE TRIGGER trg_training_data_no_update BEFORE UPDATE ON training_data FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'training_data is insert-only (immutable training rows)';;

CREATE TRIGGER trg_training_data_no_delete BEFORE DELETE ON training_data FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'training_data is insert-only (immutable training rows)';;

DELIMITER ;
