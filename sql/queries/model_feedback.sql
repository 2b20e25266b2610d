-- Instructors' feedback on one course's flagged students, per model that made the call.
SELECT
    model_name,
    model_version,
    SUM(CASE WHEN useful = 1 THEN 1 ELSE 0 END) AS useful,
    SUM(CASE WHEN useful = 0 THEN 1 ELSE 0 END) AS not_useful
FROM prediction_feedback
WHERE course_id = :course_id
GROUP BY model_name, model_version
ORDER BY model_name, model_version
