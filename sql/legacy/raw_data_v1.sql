-- The v1 `raw_data` table (SPEC §4): the single MySQL table of the first version, which
-- served as training data, live features and model output at once. It is the INPUT of the
-- legacy migration and is never created by the V2 schema.
--
-- Hand-written for readers and for setting up a legacy database by hand; the SQLAlchemy
-- definition `raw_data_v1` in dropout_pipelines/warehouse/legacy_schema.py is what the code
-- uses. Real legacy tables drift from this: columns may be missing and extra columns may
-- exist (the migration reflects the live table).
--
-- The 0/1 flags are TINYINT here, as in the production table; `raw_data_v1` declares them
-- SmallInteger (SMALLINT on MySQL). Both hold 0/1/NULL the same way.

CREATE TABLE IF NOT EXISTS raw_data (
    id                        INT          NOT NULL AUTO_INCREMENT,

    -- Who and where: one row per student and course (duplicates exist in practice).
    user_id                   INT          NOT NULL,
    course_id                 VARCHAR(255) NOT NULL,  -- e.g. course-v1:DHQG-HCM+FM101+2025_S1
    username                  VARCHAR(255) NULL,
    full_name                 VARCHAR(255) NULL,
    email                     VARCHAR(255) NULL,

    -- MOOC (Open edX) features.
    mooc_grade_percentage     FLOAT        NULL,      -- 0..100
    mooc_completion_rate      FLOAT        NULL,      -- 0..1
    mooc_is_passed            TINYINT      NULL,      -- 0/1
    mooc_letter_grade         VARCHAR(16)  NULL,      -- A/B/C/D/F

    -- H5P features.
    h5p_total_score           FLOAT        NULL,
    h5p_max_score             FLOAT        NULL,
    h5p_completion_rate       FLOAT        NULL,      -- 0..1
    h5p_time_spent_minutes    FLOAT        NULL,
    h5p_contents_attempted    INT          NULL,

    days_since_last_activity  INT          NULL,

    -- Model output, overwritten in place by every prediction (the v1 design flaw).
    fail_risk_score           FLOAT        NULL,      -- 0..100
    risk_level                VARCHAR(16)  NULL,      -- LOW < 40 <= MEDIUM < 70 <= HIGH
    predicted_at              DATETIME     NULL,

    -- Labels: NULL while the course is still running.
    is_passed                 TINYINT      NULL,      -- 0/1
    is_dropout                TINYINT      NULL,      -- 0/1
    final_grade               FLOAT        NULL,      -- 0..100

    semester                  VARCHAR(64)  NULL,      -- run part of course_id, e.g. 2025_S1
    created_at                DATETIME     NULL,
    updated_at                DATETIME     NULL,

    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
