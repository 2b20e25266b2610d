-- raw_data_v2: the legacy v1 row shape rebuilt from the V2 tables, for readers written
-- against raw_data (reports, the v1 dashboard). One row per student and course:
-- student_features + names from enrollments + the latest serving prediction + the newest
-- labels from training_data. Portable SQL (SQLite, MySQL 8, MariaDB 10.11).
CREATE VIEW raw_data_v2 AS
SELECT
    sf.user_id,
    sf.course_id,
    e.username,
    e.full_name,
    e.email,
    sf.mooc_grade_percentage,
    sf.mooc_completion_rate,
    sf.mooc_is_passed,
    sf.mooc_letter_grade,
    sf.h5p_total_score,
    sf.h5p_max_score,
    sf.h5p_completion_rate,
    sf.h5p_time_spent_minutes,
    sf.h5p_contents_attempted,
    sf.days_since_last_activity,
    p.fail_risk_score,
    p.risk_level,
    p.predicted_at,
    p.model_name,
    p.model_version,
    td.is_passed,
    td.is_dropout,
    td.final_grade,
    COALESCE(td.semester, c.semester) AS semester,
    sf.extra_features,
    sf.created_at,
    sf.updated_at
FROM student_features sf
LEFT JOIN enrollments e
    ON e.user_id = sf.user_id AND e.course_id = sf.course_id
LEFT JOIN courses c
    ON c.course_id = sf.course_id
LEFT JOIN predictions p
    ON p.user_id = sf.user_id AND p.course_id = sf.course_id AND p.latest_serving_slot = 1
LEFT JOIN (
    SELECT user_id, course_id, MAX(id) AS id
    FROM training_data
    GROUP BY user_id, course_id
) newest_label
    ON newest_label.user_id = sf.user_id AND newest_label.course_id = sf.course_id
LEFT JOIN training_data td
    ON td.id = newest_label.id
