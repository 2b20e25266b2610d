"""The prediction domain's Definitions: the predictions asset and its checks, the course
job, the registry jobs and the model store resource."""

from dagster import Definitions

from dropout_pipelines.predict.assets import predictions
from dropout_pipelines.predict.checks import PREDICTION_CHECKS
from dropout_pipelines.predict.jobs import predict_course_job
from dropout_pipelines.predict.registry.jobs import REGISTRY_JOBS
from dropout_pipelines.predict.store_resource import ModelStoreResource

defs = Definitions(
    assets=[predictions],
    asset_checks=PREDICTION_CHECKS,
    jobs=[predict_course_job, *REGISTRY_JOBS],
    resources={"model_store": ModelStoreResource()},
)
