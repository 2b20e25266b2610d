-- The run that wrote a course's newest predictions.
SELECT run_id
FROM predictions
WHERE course_id = :course_id AND run_id <> 'legacy_migration'
ORDER BY predicted_at DESC, id DESC
LIMIT 1
