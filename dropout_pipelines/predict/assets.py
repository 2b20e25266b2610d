"""The `predictions` asset: every student of a course partition scored with the course's
model, appended to the history; the previous latest rows retired in the same transaction."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.predict.course_scoring import score_course
from dropout_pipelines.predict.store_resource import ModelStoreResource
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource


@asset(
    partitions_def=courses_partitions,
    deps=["student_features"],
    pool=WAREHOUSE_POOL,
    group_name="predictions",
    description="Fail-risk predictions per student (append-only history; one latest serving "
    "row per student).",
)
def predictions(
    context: AssetExecutionContext, warehouse: WarehouseResource, model_store: ModelStoreResource
) -> MaterializeResult:
    metadata = score_course(
        warehouse.get_engine(),
        model_store.store(),
        context.partition_key,
        context.run.run_id,
        context.log,
    )
    return MaterializeResult(metadata=metadata)
