"""The product's public face: the assets, jobs, schedules and sensors the code location
exposes. A change here is a change of interface: update the snapshot on purpose."""

from __future__ import annotations

import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

from dropout_pipelines.definitions import defs
from dropout_pipelines.settings import PROJECT_ROOT

EXPECTED_ASSET_KEYS = {
    "courses",
    "mooc_enrollments",
    "mooc_grades",
    "h5p_results",
    "student_features",
    "feature_snapshots",
    "predictions",
    "training_data",
    "trained_model",
}
EXPECTED_PARTITIONED = EXPECTED_ASSET_KEYS - {"courses"}
EXPECTED_JOBS = {
    "legacy_migration_job",
    "legacy_retire_job",
    "ingest_course_job",
    "predict_course_job",
    "refresh_courses_job",
    "register_model_job",
    "map_course_job",
    "set_default_model_job",
    "deactivate_model_job",
    "train_semester_job",
    "freshness_check_job",
}
EXPECTED_SCHEDULES = {
    "predict_hourly",
    "predict_daily",
    "predict_weekly",
    "predictions_freshness_schedule",
}
EXPECTED_SENSORS = {"course_discovery_sensor", "semester_closed_sensor", "run_failure_logger"}
EXPECTED_RESOURCES = {"warehouse", "openedx", "lrs", "model_store"}
EXPECTED_CHECKS = {
    "every_student_has_a_latest_prediction",
    "scores_within_range",
    "risk_level_matches_score",
    "predictions_are_fresh",
    "enrollment_keys_unique",
    "grade_keys_unique",
    "h5p_statement_keys_unique",
    "student_feature_keys_unique",
    "feature_snapshot_keys_unique",
    "training_data_keys_unique",
    "training_rows_never_decrease",
    "model_quality_above_floor",
}


def test_definitions_expose_the_expected_interface():
    repository = defs.get_repository_def()
    asset_keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
    assert asset_keys == EXPECTED_ASSET_KEYS
    assert jobs == EXPECTED_JOBS
    assert {s.name for s in repository.schedule_defs} == EXPECTED_SCHEDULES
    assert {s.name for s in repository.sensor_defs} == EXPECTED_SENSORS
    assert EXPECTED_RESOURCES <= set(defs.resources or {})
    partitioned = {
        key.to_user_string()
        for key in repository.asset_graph.get_all_asset_keys()
        if repository.asset_graph.get(key).partitions_def is not None
    }
    assert partitioned == EXPECTED_PARTITIONED
    checks = {key.name for key in repository.asset_graph.asset_check_keys}
    assert checks == EXPECTED_CHECKS


def test_migration_job_ops_in_order():
    job = defs.resolve_job_def("legacy_migration_job")
    upstream = {
        invocation.name: {dep.node for dep in inputs.values()}
        for invocation, inputs in job.graph.dependencies.items()
    }
    order = list(TopologicalSorter(upstream).static_order())
    assert order == [
        "backup_legacy_table",
        "create_v2_schema",
        "migrate_legacy_rows",
        "register_legacy_model_op",
        "map_legacy_courses",
        "create_compat_views",
        "verify_legacy_migration",
    ]


def test_workspace_validates_with_the_dagster_cli(dagster_home):
    dagster = Path(sys.executable).with_name("dagster")
    completed = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env={"DAGSTER_HOME": str(dagster_home), "PATH": str(dagster.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "All code locations passed validation" in completed.stderr + completed.stdout
