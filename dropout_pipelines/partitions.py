"""The project's two dynamic partitions, in one place because several domains share them:
`courses` (one partition per Open edX course id: ingestion, predictions, the refresh job)
and `semesters` (one per semester, e.g. `2026_S1`: training data and models). Sensors add
the partitions as courses are discovered and semesters close."""

from dagster import DynamicPartitionsDefinition

courses_partitions = DynamicPartitionsDefinition(name="courses")
semesters_partitions = DynamicPartitionsDefinition(name="semesters")
