-- The run that wrote a course's newest predictions over the whole course: not the legacy
-- rows, not a single student's on-demand prediction.
SELECT run_id
FROM predictions
WHERE course_id = :course_id AND run_id NOT IN (:legacy_run_id, :on_demand_run_id)
ORDER BY predicted_at DESC, id DESC
LIMIT 1
