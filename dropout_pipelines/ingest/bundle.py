"""What one course's ingestion produces before it is written: tidy frames, one per table."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from dropout_pipelines.ingest.http import FetchStats


@dataclass
class CourseBundle:
    """Everything fetched and computed for one course, ready for one transaction.

    Frames carry exactly the columns of their tables (plus `user_id`/`course_id` keys);
    `features` has `user_id` and the feature columns; `snapshot_week` is the week of course
    the features belong to.
    """

    course: dict
    enrollments: pd.DataFrame
    grades: pd.DataFrame
    h5p: pd.DataFrame
    features: pd.DataFrame
    snapshot_week: int | None
    fetched_at: datetime
    stats: dict[str, FetchStats] = field(default_factory=dict)
    unknown_actors: int = 0
