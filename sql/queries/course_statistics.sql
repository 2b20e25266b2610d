-- Dashboard: one course's headline numbers. Students without a prediction count with the
-- placeholder risk 50; high risk = latest serving score >= 70 and not (yet) passed.
SELECT
    COUNT(*) AS total_students,
    AVG(COALESCE(p.fail_risk_score, 50)) AS avg_risk_score,
    AVG(sf.mooc_grade_percentage) AS avg_grade,
    COALESCE(SUM(CASE
        WHEN p.fail_risk_score >= 70 AND COALESCE(sf.mooc_is_passed, 0) = 0 THEN 1
        ELSE 0
    END), 0) AS high_risk_count,
    COUNT(p.id) AS predicted_students,
    COALESCE(SUM(CASE WHEN p.risk_level = 'LOW' THEN 1 ELSE 0 END), 0) AS low_level,
    COALESCE(SUM(CASE WHEN p.risk_level = 'MEDIUM' THEN 1 ELSE 0 END), 0) AS medium_level,
    COALESCE(SUM(CASE WHEN p.risk_level = 'HIGH' THEN 1 ELSE 0 END), 0) AS high_level
FROM student_features sf
LEFT JOIN predictions p
    ON p.user_id = sf.user_id AND p.course_id = sf.course_id AND p.latest_serving_slot = 1
WHERE sf.course_id = :course_id
