-- A student's risk over time in one course: every prediction, oldest first.
SELECT
    predicted_at,
    fail_risk_score,
    risk_level,
    model_name,
    model_version,
    purpose,
    ab_arm,
    is_latest,
    snapshot_week,
    snapshot_grade,
    run_id
FROM predictions
WHERE user_id = :user_id AND course_id = :course_id
ORDER BY predicted_at, id
