"""Run ingestion in process against a live simulator and a real database."""

from __future__ import annotations

from dagster import DagsterInstance

from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines_tests.support.dagster_runs import RunOutcome


def point_at(monkeypatch, simulator: RunningSimulator, db_url: str, **overrides: str) -> None:
    """Environment for the resources: the simulator's URLs and credentials, the database."""
    env = {"DROPOUT_DB_URL": db_url, **simulator.environment()} | overrides
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENEDX_SESSIONID", raising=False)


def ingest(course_id: str, instance: DagsterInstance | None = None) -> RunOutcome:
    """Materialize the course's partition of the ingestion assets (definitions' resources)."""
    from dropout_pipelines.definitions import defs

    instance = instance or DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(courses_partitions.name, course_id):
        instance.add_dynamic_partitions(courses_partitions.name, [course_id])
    result = defs.resolve_job_def("ingest_course_job").execute_in_process(
        partition_key=course_id, instance=instance, raise_on_error=False
    )
    return RunOutcome(result, instance)
