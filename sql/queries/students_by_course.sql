-- Dashboard: every student of a course with the latest serving prediction.
-- A course is visible as soon as its features exist: a student with no prediction yet
-- gets the placeholder risk 50 (MEDIUM) and is_placeholder = 1.
SELECT
    sf.user_id,
    sf.course_id,
    e.username,
    e.full_name,
    e.email,
    sf.mooc_grade_percentage,
    sf.mooc_completion_rate,
    sf.mooc_is_passed,
    sf.h5p_score_rate,
    sf.days_since_last_activity,
    COALESCE(p.fail_risk_score, 50) AS fail_risk_score,
    COALESCE(p.risk_level, 'MEDIUM') AS risk_level,
    CASE WHEN p.id IS NULL THEN 1 ELSE 0 END AS is_placeholder,
    p.model_name,
    p.model_version,
    p.predicted_at
FROM student_features sf
LEFT JOIN enrollments e
    ON e.user_id = sf.user_id AND e.course_id = sf.course_id
LEFT JOIN predictions p
    ON p.user_id = sf.user_id AND p.course_id = sf.course_id AND p.latest_serving_slot = 1
WHERE sf.course_id = :course_id
ORDER BY COALESCE(p.fail_risk_score, 50) DESC, sf.user_id
