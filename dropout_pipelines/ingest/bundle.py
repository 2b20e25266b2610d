"""What one course's ingestion produces before it is written: tidy frames, one per table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from dropout_pipelines.features.engineering import CourseWindow
from dropout_pipelines.ingest.clients.http import FetchStats
from dropout_pipelines.ingest.digest import DigestedStatements


@dataclass
class CourseBundle:
    """Everything fetched for one course, ready for one transaction.

    `enrollments` and `grades` carry exactly the columns of their tables (plus `user_id`);
    `completion` is the aggregator's user_id, completion_rate; `outline` the graded problems
    of the Course Blocks API and `policy` the grading policy (both empty when not exposed);
    `statements` is the digest of the LRS statements stored since the course's cursor.
    """

    course: dict
    window: CourseWindow
    enrollments: pd.DataFrame
    grades: pd.DataFrame
    completion: pd.DataFrame
    cutoffs: dict[str, float]
    outline: pd.DataFrame
    policy: pd.DataFrame
    statements: DigestedStatements
    fetched_at: datetime
    stats: dict[str, FetchStats] = field(default_factory=dict)

    @property
    def unknown_actors(self) -> int:
        return self.statements.unknown_actors
