"""`freshness_check_job`: the prediction freshness check on its own, with no materialization
(stale predictions are what happens when nothing runs)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from dropout_pipelines.predict.checks import predictions_are_fresh

freshness_check_job = define_asset_job(
    "freshness_check_job",
    selection=AssetSelection.checks(predictions_are_fresh),
    executor_def=in_process_executor,
    description="Evaluate predictions_are_fresh over every auto-predicted course.",
)
