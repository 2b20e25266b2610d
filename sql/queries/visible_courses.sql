-- Read API: every course with fetched features (visible as soon as they exist), newest
-- first, with how many of its students have a serving prediction.
SELECT
    sf.course_id,
    c.display_name,
    c.org,
    c.semester,
    c.start_at,
    c.end_at,
    COUNT(*) AS students,
    COUNT(p.id) AS predicted,
    MAX(p.predicted_at) AS last_predicted_at
FROM student_features sf
LEFT JOIN courses c ON c.course_id = sf.course_id
LEFT JOIN predictions p
    ON p.user_id = sf.user_id AND p.course_id = sf.course_id AND p.latest_serving_slot = 1
GROUP BY sf.course_id, c.display_name, c.org, c.semester, c.start_at, c.end_at
ORDER BY c.start_at DESC, sf.course_id
