"""The orchestration domain's Definitions: the batched refresh-then-score job, the
predict_* schedules and the course discovery sensor."""

from dagster import Definitions

from dropout_pipelines.orchestration.refresh import refresh_courses_job
from dropout_pipelines.orchestration.schedules import PREDICT_SCHEDULES
from dropout_pipelines.orchestration.sensors import course_discovery_sensor

defs = Definitions(
    jobs=[refresh_courses_job],
    schedules=PREDICT_SCHEDULES,
    sensors=[course_discovery_sensor],
)
