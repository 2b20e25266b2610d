"""The `predictions` asset: every student of a course partition scored with the course's
model, appended to the history; the previous latest rows retired in the same transaction."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.ingest.partitions import courses_partitions
from dropout_pipelines.predict.comparison import compare_models
from dropout_pipelines.predict.scoring import MissingFeatureError
from dropout_pipelines.predict.selection import NoModelError
from dropout_pipelines.predict.service import NoFeaturesError, predict_course
from dropout_pipelines.warehouse.resource import WarehouseResource

DB_POOL = "warehouse_db"


@asset(
    partitions_def=courses_partitions,
    deps=["student_features"],
    pool=DB_POOL,
    group_name="predictions",
    description="Fail-risk predictions per student (append-only history; one latest serving "
    "row per student).",
)
def predictions(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    course_id = context.partition_key
    now = utc_now_s()
    try:
        scores = predict_course(warehouse.get_engine(), course_id, context.run.run_id, now)
    except (NoModelError, NoFeaturesError, MissingFeatureError) as error:
        raise Failure(f"{course_id}: {error}") from error
    summary = scores.summary()
    context.log.info(
        f"{course_id}: {summary['students']} students scored with {summary['model']}: "
        f"mean risk {summary['mean_risk']}, HIGH {summary['high']}, MEDIUM {summary['medium']}, "
        f"LOW {summary['low']}; {summary['shadow_rows']} shadow rows"
    )
    comparison = {}
    if summary["shadow_rows"] or scores.rows["ab_arm"].notna().any():
        compared = compare_models(warehouse.get_engine(), course_id, context.run.run_id)
        comparison = {"model_comparison": MetadataValue.json(compared)}
    return MaterializeResult(
        metadata={
            **comparison,
            "students": summary["students"],
            "mean_risk": MetadataValue.float(float(summary["mean_risk"])),
            "high_risk": summary["high"],
            "medium_risk": summary["medium"],
            "low_risk": summary["low"],
            "model": summary["model"],
            "shadow_rows": summary["shadow_rows"],
        }
    )
