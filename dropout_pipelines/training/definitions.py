"""The training domain's Definitions: per-semester training data and model, the job and
the semester_closed_sensor."""

from dagster import Definitions

from dropout_pipelines.training.assets import trained_model, training_data
from dropout_pipelines.training.sensors import semester_closed_sensor, train_semester_job

defs = Definitions(
    assets=[training_data, trained_model],
    jobs=[train_semester_job],
    sensors=[semester_closed_sensor],
)
