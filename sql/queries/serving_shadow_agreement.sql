-- How far a shadow model agrees with the serving one on the same students of one run.
SELECT
    COUNT(*) AS students,
    AVG(CASE WHEN shadow.risk_level = serving.risk_level THEN 1.0 ELSE 0.0 END)
        AS level_agreement,
    AVG(ABS(shadow.fail_risk_score - serving.fail_risk_score)) AS mean_abs_difference
FROM predictions serving
JOIN predictions shadow
    ON shadow.run_id = serving.run_id
    AND shadow.course_id = serving.course_id
    AND shadow.user_id = serving.user_id
    AND shadow.purpose = 'shadow'
WHERE serving.course_id = :course_id
    AND serving.run_id = :run_id
    AND serving.purpose = 'serving'
