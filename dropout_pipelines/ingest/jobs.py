"""Jobs of the ingestion domain (partitioned by `courses`, inferred from the assets)."""

from dagster import AssetSelection, define_asset_job

COURSE_ASSET_KEYS = (
    "mooc_enrollments",
    "mooc_grades",
    "h5p_results",
    "student_features",
    "feature_snapshots",
)

ingest_course_job = define_asset_job(
    "ingest_course_job",
    selection=AssetSelection.assets(*COURSE_ASSET_KEYS),
    description="Fetch one course from Open edX + the LRS and rebuild its features.",
)
