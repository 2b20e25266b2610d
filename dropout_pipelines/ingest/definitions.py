"""The ingestion domain's Definitions: catalog + per-course assets, job, and the Open edX /
LRS resources configured from environment variables."""

from dagster import Definitions

from dropout_pipelines.ingest.assets import course_ingestion, courses
from dropout_pipelines.ingest.jobs import ingest_course_job
from dropout_pipelines.ingest.resources import lrs_resource_from_env, openedx_resource_from_env

defs = Definitions(
    assets=[courses, course_ingestion],
    jobs=[ingest_course_job],
    resources={"openedx": openedx_resource_from_env(), "lrs": lrs_resource_from_env()},
)
