"""Per-semester training assets: point-in-time `training_data`, then `trained_model`."""

from dagster import (
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from dropout_pipelines.clock import utc_now_s
from dropout_pipelines.partitions import semesters_partitions
from dropout_pipelines.predict.store_resource import ModelStoreResource
from dropout_pipelines.training.labels import DropoutRule
from dropout_pipelines.training.point_in_time import build_semester_training_data, label_sources
from dropout_pipelines.training.semesters import semester_status
from dropout_pipelines.training.train import train_and_register
from dropout_pipelines.warehouse.pool import WAREHOUSE_POOL
from dropout_pipelines.warehouse.resource import WarehouseResource

GROUP = "training"
REPORT_WEEKS = (2, 4, 8)


class TrainingDataConfig(Config):
    weeks: list[int] | None = Field(
        default=None, description="Snapshot weeks to build rows for; empty = every week."
    )
    dropout_inactive_days: int = Field(
        default=30, description="No activity in the course's last N days = dropout."
    )


class TrainedModelConfig(Config):
    window: int = Field(default=2, description="Semesters of rows: this one and N-1 before.")
    promote: str = Field(default="auto", description="auto | never")
    train_dropout_model: bool = Field(default=False, description="Also train a dropout model.")
    iterations: int = 400


@asset(
    partitions_def=semesters_partitions,
    deps=["feature_snapshots"],
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    description="Point-in-time training rows of a closed semester (insert-only), built from "
    "the warehouse alone.",
)
def training_data(
    context: AssetExecutionContext, config: TrainingDataConfig, warehouse: WarehouseResource
) -> MaterializeResult:
    """Weekly snapshots (live captures, and the weeks ingestion rebuilt from the stored
    history) joined point-in-time with the labels of the course's end. Refuses a semester
    that is not closed: labels must be final grades, fetched after each course's end."""
    semester = context.partition_key
    engine = warehouse.get_engine()
    now = utc_now_s()
    status = semester_status(engine, semester, now)
    if not status.courses:
        raise Failure(f"semester {semester} has no course in the warehouse")
    if status.open_courses:
        raise Failure(
            f"semester {semester} is not closed: {len(status.open_courses)} of "
            f"{len(status.courses)} courses have not ended or have no final grades fetched "
            f"after their end: {', '.join(status.open_courses)} (nothing written; they are "
            "refreshed once after their end by the predict schedules)"
        )
    counts = build_semester_training_data(
        engine,
        semester,
        weeks=config.weeks,
        rule=DropoutRule(inactive_days=config.dropout_inactive_days),
        now=now,
    )
    inserted = sum(counts.values())
    sources = label_sources(engine, semester)
    context.log.info(f"{semester}: {inserted} new training rows {counts}; labels by {sources}")
    if sources.get("cutoff"):
        context.log.warning(
            f"{semester}: {sources['cutoff']} pass labels come from the cutoff on percent, not "
            "from Open edX's own decision (the course grades API was not available)"
        )
    return MaterializeResult(
        metadata={
            "courses": len(status.courses),
            "rows_inserted": inserted,
            "per_course": MetadataValue.json(counts),
            "label_sources": MetadataValue.json(sources),
            "labels_from_cutoff": sources.get("cutoff", 0),
        }
    )


def weeks_table(metrics: dict) -> str:
    """Held-out AUC per snapshot week: the candidate, the serving model on the same rows,
    and both baselines; the early weeks (first half of the course) marked."""
    gate = metrics.get("gate", {})
    columns = {
        "model": metrics.get("auc_by_week", {}),
        "serving": gate.get("serving_auc_by_week", {}),
        **{
            name: baseline.get("auc_by_week", {})
            for name, baseline in metrics.get("baselines", {}).items()
        },
    }
    early = set(metrics.get("early_weeks", []))
    weeks = sorted({int(week) for curve in columns.values() for week in curve})
    header = "| week | " + " | ".join(columns) + " |"
    lines = [header, "|---:|" + "---:|" * len(columns)]
    for week in weeks:
        cells = [
            f"{curve[str(week)]:.3f}" if str(week) in curve else "–" for curve in columns.values()
        ]
        lines.append(f"| {week}{'*' if week in early else ''} | " + " | ".join(cells) + " |")
    means = [
        metrics.get("early_mean_auc"),
        next((row["early_mean_auc"] for row in gate.get("comparison", [])
              if row["role"] == "serving default"), None),
        *(baseline.get("early_mean_auc") for baseline in metrics.get("baselines", {}).values()),
    ]  # fmt: skip
    lines.append(
        "| early mean | " + " | ".join("–" if m is None else f"{m:.3f}" for m in means) + " |"
    )
    return "\n".join(lines)


@asset(
    partitions_def=semesters_partitions,
    deps=["training_data"],
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    description="A CatBoost model trained on the semester's rows (and earlier), evaluated on "
    "held-out students, registered; promoted only when at least as good as the serving one.",
)
def trained_model(
    context: AssetExecutionContext,
    config: TrainedModelConfig,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
) -> MaterializeResult:
    semester = context.partition_key
    engine = warehouse.get_engine()
    targets = ["fail"] + (["dropout"] if config.train_dropout_model else [])
    outcomes = []
    for target in targets:
        try:
            outcome = train_and_register(
                engine,
                model_store.store(),
                semester,
                target=target,
                window=config.window,
                promote=config.promote,
                iterations=config.iterations,
                run_id=context.run.run_id,
                log=context.log.info,
            )
        except ValueError as error:
            raise Failure(str(error)) from error
        outcomes.append(outcome)
        context.log.info(
            f"{target} model {outcome.model_name}:{outcome.model_version}: held-out "
            f"AUC {outcome.metrics['roc_auc']}, AUC by week {outcome.auc_by_week}"
        )
    fail = outcomes[0]
    metadata = {
        "model": f"{fail.model_name}:{fail.model_version}",
        "roc_auc": MetadataValue.float(float(fail.metrics["roc_auc"] or 0)),
        "pr_auc": MetadataValue.float(float(fail.metrics["pr_auc"] or 0)),
        "f1": MetadataValue.float(float(fail.metrics["f1"] or 0)),
        "brier": MetadataValue.float(float(fail.metrics["brier"] or 0)),
        "training_rows": fail.training_rows,
        "promoted": fail.promoted,
        "auc_by_week": MetadataValue.md(weeks_table(fail.metrics)),
        "early_mean_auc": MetadataValue.float(float(fail.metrics.get("early_mean_auc") or 0)),
        "gate": fail.gate.get("reason", ""),
        "feature_importances": MetadataValue.json(fail.feature_importances),
        "promotion_comparison": MetadataValue.json(fail.comparison),
    }
    for week in REPORT_WEEKS:
        if week in fail.auc_by_week:
            metadata[f"auc_week_{week}"] = MetadataValue.float(fail.auc_by_week[week])
    if len(outcomes) > 1:
        metadata["dropout_model"] = f"{outcomes[1].model_name}:{outcomes[1].model_version}"
        metadata["dropout_roc_auc"] = MetadataValue.float(
            float(outcomes[1].metrics["roc_auc"] or 0)
        )
    return MaterializeResult(metadata=metadata)
