"""Jobs of the ingestion domain (partitioned by `courses`, inferred from the assets)."""

from dagster import AssetSelection, define_asset_job

from dropout_pipelines.ingest.assets import COURSE_ASSET_SPECS

# Every asset of the course ingestion multi-asset, in the order it declares them.
COURSE_ASSET_KEYS = tuple(spec.key for spec in COURSE_ASSET_SPECS)

ingest_course_job = define_asset_job(
    "ingest_course_job",
    selection=AssetSelection.assets(*COURSE_ASSET_KEYS),
    description="Fetch one course from Open edX + the LRS and rebuild its features.",
)
