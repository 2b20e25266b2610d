"""`semester_closed_sensor`: when every course of a semester has ended and its final grades
were fetched after the end, build that semester's training data and train on it, once."""

import json

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from dropout_pipelines.clock import utc_now
from dropout_pipelines.partitions import semesters_partitions
from dropout_pipelines.training.semesters import closed_semesters
from dropout_pipelines.warehouse.resource import WarehouseResource

train_semester_job = define_asset_job(
    "train_semester_job",
    selection=AssetSelection.assets("training_data", "trained_model"),
    description="Point-in-time training data of a closed semester, then a trained model.",
)


@sensor(
    job=train_semester_job,
    minimum_interval_seconds=3600,
    # On by default: training reads only the warehouse.
    default_status=DefaultSensorStatus.RUNNING,
    description="Trains once per semester, when all its courses ended and final grades are in.",
)
def semester_closed_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    done = set(json.loads(context.cursor)) if context.cursor else set()
    closed = closed_semesters(warehouse.get_engine(), utc_now())
    new = [semester for semester in closed if semester not in done]
    if not new:
        return SkipReason(f"no newly closed semester (closed so far: {sorted(done) or 'none'})")
    context.log.info(f"semesters closed: {new}")
    return SensorResult(
        run_requests=[
            RunRequest(partition_key=semester, run_key=f"semester-closed:{semester}")
            for semester in new
        ],
        dynamic_partitions_requests=[semesters_partitions.build_add_request(new)],
        cursor=json.dumps(sorted(done | set(new))),
    )
