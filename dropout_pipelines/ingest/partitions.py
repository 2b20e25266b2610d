"""The `courses` dynamic partitions: one partition per Open edX course id."""

from dagster import DynamicPartitionsDefinition

courses_partitions = DynamicPartitionsDefinition(name="courses")
