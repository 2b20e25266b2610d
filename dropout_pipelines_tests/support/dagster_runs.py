"""What the tests read from an in-process Dagster run: logs, failures, metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance, ExecuteInProcessResult


def _plain(metadata: dict) -> dict[str, Any]:
    return {key: getattr(value, "value", value) for key, value in metadata.items()}


@dataclass
class RunOutcome:
    result: ExecuteInProcessResult
    instance: DagsterInstance

    @property
    def success(self) -> bool:
        return self.result.success

    def logs(self) -> list[str]:
        """Every message of the run (user logs and Dagster's own events)."""
        return [entry.message for entry in self.instance.all_logs(self.result.run_id)]

    def failure_message(self) -> str:
        """The failed steps' errors, with their causes (what the UI shows)."""
        return "\n".join(
            str(event.step_failure_data.error.message)
            + str(getattr(event.step_failure_data.error.cause, "message", ""))
            for event in self.result.all_events
            if event.event_type_value == "STEP_FAILURE"
        )

    def metadata(self, op_name: str) -> dict[str, Any]:
        """The output metadata of one op."""
        for event in self.result.events_for_node(op_name):
            if event.event_type_value == "STEP_OUTPUT":
                return _plain(event.step_output_data.metadata)
        raise AssertionError(f"no output event for {op_name}")

    def asset_metadata(self, asset_key: str) -> dict[str, Any]:
        """The metadata of one asset's materialization."""
        for event in self.result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key.to_user_string() == asset_key:
                return _plain(materialization.metadata)
        raise AssertionError(f"no materialization of {asset_key}")
