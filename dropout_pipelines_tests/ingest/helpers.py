"""Run ingestion in process against a live simulator and a real database."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import DagsterInstance, ExecuteInProcessResult

from dropout_pipelines.ingest.partitions import courses_partitions
from dropout_pipelines.simulator.openedx import RunningSimulator


def point_at(monkeypatch, simulator: RunningSimulator, db_url: str, **overrides: str) -> None:
    """Environment for the resources: the simulator's URLs and credentials, the database."""
    credentials = simulator.config.credentials
    env = {
        "DROPOUT_DB_URL": db_url,
        "OPENEDX_BASE_URL": simulator.base_url,
        "OPENEDX_CLIENT_ID": credentials.client_id,
        "OPENEDX_CLIENT_SECRET": credentials.client_secret,
        "LRS_URL": simulator.lrs_url,
        "LRS_USERNAME": credentials.lrs_username,
        "LRS_PASSWORD": credentials.lrs_password,
    } | overrides
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENEDX_SESSIONID", raising=False)


@dataclass
class IngestRun:
    result: ExecuteInProcessResult
    instance: DagsterInstance

    @property
    def success(self) -> bool:
        return self.result.success

    def logs(self) -> list[str]:
        return [entry.message for entry in self.instance.all_logs(self.result.run_id)]

    def failure_message(self) -> str:
        return "\n".join(
            str(event.step_failure_data.error.message)
            + str(getattr(event.step_failure_data.error.cause, "message", ""))
            for event in self.result.all_events
            if event.event_type_value == "STEP_FAILURE"
        )

    def metadata(self, asset_key: str) -> dict:
        for event in self.result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key.to_user_string() == asset_key:
                return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
        raise AssertionError(f"no materialization of {asset_key}")


def ingest(course_id: str, instance: DagsterInstance | None = None) -> IngestRun:
    """Materialize the course's partition of the ingestion assets (definitions' resources)."""
    from dropout_pipelines.definitions import defs

    instance = instance or DagsterInstance.ephemeral()
    if not instance.has_dynamic_partition(courses_partitions.name, course_id):
        instance.add_dynamic_partitions(courses_partitions.name, [course_id])
    result = defs.resolve_job_def("ingest_course_job").execute_in_process(
        partition_key=course_id, instance=instance, raise_on_error=False
    )
    return IngestRun(result, instance)
