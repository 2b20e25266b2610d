"""Jobs of the prediction domain (partitioned by `courses`, inferred from the asset)."""

from dagster import AssetSelection, define_asset_job

predict_course_job = define_asset_job(
    "predict_course_job",
    selection=AssetSelection.assets("predictions"),
    description="Score every student of one course with the course's model.",
)
