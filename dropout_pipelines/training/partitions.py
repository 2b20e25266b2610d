"""The `semesters` dynamic partitions: one partition per semester (e.g. `2026_S1`)."""

from dagster import DynamicPartitionsDefinition

semesters_partitions = DynamicPartitionsDefinition(name="semesters")
