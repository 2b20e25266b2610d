-- Models compared on one course over its most recent prediction run: serving (per A/B arm)
-- and shadow rows side by side (mean risk, level counts).
SELECT
    p.model_name,
    p.model_version,
    p.purpose,
    p.ab_arm,
    COUNT(*) AS students,
    AVG(p.fail_risk_score) AS mean_risk,
    SUM(CASE WHEN p.risk_level = 'HIGH' THEN 1 ELSE 0 END) AS high_risk,
    SUM(CASE WHEN p.risk_level = 'MEDIUM' THEN 1 ELSE 0 END) AS medium_risk,
    SUM(CASE WHEN p.risk_level = 'LOW' THEN 1 ELSE 0 END) AS low_risk
FROM predictions p
WHERE p.course_id = :course_id AND p.run_id = :run_id
GROUP BY p.model_name, p.model_version, p.purpose, p.ab_arm
ORDER BY p.purpose DESC, p.model_name, p.model_version, p.ab_arm
