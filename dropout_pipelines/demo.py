"""`make demo`: legacy demo database → migration → simulator → discovery → refresh and
score every course → training on the closed semester → scoring with the new model.

Runs against `DROPOUT_DB_URL` (default: the embedded SQLite file) and records every run in
`DAGSTER_HOME`, so they show in the UI that `make dev` opens. The bundled Open edX + LRS
simulator runs on 127.0.0.1 for the demo's duration (unless `OPENEDX_BASE_URL` points at a
real Open edX). Safe to run twice: the legacy table is generated only when the database has
none, the migration recognises its own completed work, ingestion reads only what is new.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterInstance

from dropout_pipelines.clock import utc_now
from dropout_pipelines.settings import PROJECT_ROOT, db_url_from_env
from dropout_pipelines.simulator.bundled import start_bundled_simulator
from dropout_pipelines.simulator.legacy_data import (
    LegacyDataSpec,
    generate_raw_data,
    write_raw_data,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.legacy_schema import LEGACY_TABLE_NAME
from dropout_pipelines.warehouse.urls import mask_url

SUMMARY_TABLES = (
    s.courses,
    s.student_features,
    s.enrollments,
    s.mooc_grades,
    s.h5p_results,
    s.feature_snapshots,
    s.predictions,
    s.training_data,
    s.model_registry,
    s.course_model_mapping,
)
# Dagster's console lines worth showing in the demo: what each op logged for the user.
QUIET_RUN = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SHOWN_LEVELS = (" - INFO - ", " - WARNING - ", " - ERROR - ", " - CRITICAL - ")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def ensure_legacy_table(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        present = sa.inspect(connection).has_table(LEGACY_TABLE_NAME)
    if present:
        say(f"legacy table {LEGACY_TABLE_NAME} already present: kept as it is")
        return
    frame = generate_raw_data(LegacyDataSpec())
    write_raw_data(engine, frame)
    say(f"generated the legacy demo table {LEGACY_TABLE_NAME}: {len(frame)} rows")


def run_job(job_name: str) -> None:
    """Run a job through the Dagster CLI so the run is stored in DAGSTER_HOME."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "job",
        "execute",
        "-m",
        "dropout_pipelines.definitions",
        "-j",
        job_name,
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if any(level in line for level in SHOWN_LEVELS):
            after_job = line.split(f"{job_name} - ", 1)[-1]
            print("    " + after_job.partition(" - ")[2].strip(), flush=True)
    if process.wait() != 0:
        raise SystemExit(f"{job_name} failed (exit {process.returncode}): see the lines above")


def print_summary(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in SUMMARY_TABLES
        }
        per_course = connection.execute(
            sa.select(s.student_features.c.course_id, sa.func.count())
            .group_by(s.student_features.c.course_id)
            .order_by(s.student_features.c.course_id)
        ).all()
    say("warehouse now holds:")
    for name, count in counts.items():
        print(f"    {name:<22} {count:>8}")
    for course_id, students in per_course:
        print(f"    {course_id:<45} {students:>6} students")


def _materializations(result) -> dict[str, list[dict]]:
    """The metadata of every asset materialization of a run, by asset key."""
    found: dict[str, list[dict]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found.setdefault(materialization.asset_key.to_user_string(), []).append(
            {"partition": materialization.partition, **materialization.metadata}
        )
    return found


def run_in_process(job_name: str, **options) -> dict[str, list[dict]]:
    """Run a job in this process, recorded in DAGSTER_HOME; the metadata of each asset it
    materialized, or exit with the failure."""
    from dropout_pipelines.definitions import defs

    run_config = options.pop("run_config", {}) | QUIET_RUN
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=DagsterInstance.get(), raise_on_error=False, run_config=run_config, **options
    )
    if not result.success:
        raise SystemExit(f"{job_name} failed: see the run in the Dagster UI")
    return _materializations(result)


def discover_courses() -> list[str]:
    """What course_discovery_sensor does on its first tick: new courses become partitions."""
    from dropout_pipelines.ingest.resources import openedx_resource_from_env
    from dropout_pipelines.orchestration.sensors import mapped_course_ids, plan_discovery
    from dropout_pipelines.partitions import courses_partitions
    from dropout_pipelines.warehouse.resource import WarehouseResource

    instance = DagsterInstance.get()
    openedx = openedx_resource_from_env().process_config_and_initialize()
    listed = openedx.client().list_courses()["course_id"]
    known = instance.get_dynamic_partitions(courses_partitions.name)
    new_keys, _ = plan_discovery(listed, mapped_course_ids(WarehouseResource()), known)
    instance.add_dynamic_partitions(courses_partitions.name, new_keys)
    say(f"discovered {len(listed)} Open edX courses ({len(new_keys)} new partitions)")
    return sorted(listed)


def refresh_and_score(course_ids: list[str]) -> None:
    """The run the discovery sensor and the predict_* schedules request: each course
    refreshed (incremental ingestion), then scored with its model."""
    config = {"ops": {"plan_course_refresh": {"config": {"course_ids": course_ids}}}}
    materialized = run_in_process("refresh_courses_job", run_config=config)
    features = {m["partition"]: m for m in materialized["student_features"]}
    snapshots = {m["partition"]: m for m in materialized["feature_snapshots"]}
    for m in materialized["predictions"]:
        course_id = m["partition"]
        say(
            f"{course_id}: {features[course_id]['students'].value} students refreshed "
            f"(week {snapshots[course_id]['snapshot_week'].value}, "
            f"{snapshots[course_id]['weeks_rebuilt_rows'].value} past-week snapshot rows "
            f"rebuilt), scored with {m['model'].value}: mean risk {m['mean_risk'].value:.1f}, "
            f"HIGH {m['high_risk'].value}, MEDIUM {m['medium_risk'].value}, "
            f"LOW {m['low_risk'].value}"
        )


def train_closed_semesters(engine: sa.Engine) -> bool:
    """What semester_closed_sensor requests: training data and a model per closed semester.
    True when a new model was promoted to default."""
    from dropout_pipelines.partitions import semesters_partitions
    from dropout_pipelines.training.semesters import closed_semesters

    instance = DagsterInstance.get()
    promoted = False
    for semester in closed_semesters(engine, utc_now()):
        instance.add_dynamic_partitions(semesters_partitions.name, [semester])
        say(f"semester {semester} is closed: building point-in-time training data, training")
        materialized = run_in_process("train_semester_job", partition_key=semester)
        data, model = materialized["training_data"][0], materialized["trained_model"][0]
        promoted |= bool(model["promoted"].value)
        say(
            f"{semester}: {data['rows_inserted'].value} new training rows; model "
            f"{model['model'].value} held-out AUC {model['roc_auc'].value:.3f}, "
            f"{'promoted to default' if model['promoted'].value else 'not promoted'}"
        )
        say(f"promotion gate: {model['gate'].value}")
        print("    held-out AUC per snapshot week (* = early weeks, which decide):")
        for line in model["auc_by_week"].value.splitlines():
            print("    " + line)
    return promoted


def bootstrap_default_model(engine: sa.Engine) -> None:
    """A real CatBoost model from the legacy labels as the first default."""
    from dropout_pipelines.predict.store_resource import ModelStoreResource
    from dropout_pipelines.training.bootstrap import bootstrap_model

    result = bootstrap_model(engine, ModelStoreResource().store())
    verb = "trained and registered" if result.created else "already registered"
    say(
        f"model {result.model_name} v{result.model_version} {verb} "
        f"({result.training_rows} legacy training rows)"
    )


def main() -> int:
    url = db_url_from_env()
    say(f"warehouse: {mask_url(url)}")
    say(f"DAGSTER_HOME: {os.environ.get('DAGSTER_HOME', '(unset: runs are not kept)')}")
    engine = get_engine(url)
    ensure_legacy_table(engine)
    say("running legacy_migration_job (backup, schema, migrate, model, mapping, views, verify)")
    run_job("legacy_migration_job")
    bootstrap_default_model(engine)
    simulator = start_bundled_simulator(say)
    try:
        course_ids = discover_courses()
        refresh_and_score(course_ids)
    finally:
        if simulator is not None:
            simulator.stop()
    # Training reads only the warehouse: the Open edX and the LRS are no longer needed.
    if train_closed_semesters(engine):
        say("a new default model serves: scoring every course with it")
        for course_id in course_ids:
            run_in_process("predict_course_job", partition_key=course_id)
    print_summary(engine)
    say(
        "open the Dagster UI with `make dev`, then http://127.0.0.1:3000 "
        "(Runs, Assets, the course partitions)"
    )
    say(
        "the instructors' page: `make serve`, then http://127.0.0.1:8000 "
        "(sign in with the token it prints)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
