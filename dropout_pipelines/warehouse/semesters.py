"""Which semester a course belongs to.

Default: the run part of its key (`course-v1:ORG+CODE+2025_S2` → `2025_S2`). Institutions
whose run names are not semesters set `DROPOUT_SEMESTER_PATTERN`, a regular expression
over the course id with a group named `semester` (e.g. `\\+(?P<semester>\\d{4}_S\\d)`), or
`DROPOUT_SEMESTER_TERMS`, start dates of terms (`2025_S1=2025-01-01,2025_S2=2025-08-01`):
a course belongs to the last term that started on or before its start date.
"""

from __future__ import annotations

import os
import re
from datetime import datetime

from dropout_pipelines.warehouse.course_keys import default_semester


def _terms(spec: str) -> list[tuple[datetime, str]]:
    terms = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, start = item.partition("=")
        try:
            terms.append((datetime.fromisoformat(start.strip()), name.strip()))
        except ValueError as error:
            raise ValueError(
                f"DROPOUT_SEMESTER_TERMS item {item!r} is not NAME=YYYY-MM-DD"
            ) from error
    return sorted(terms)


def semester_for(course_id: str, start: datetime | None = None) -> str | None:
    """The course's semester under the configured rule (see the module docstring)."""
    pattern = os.environ.get("DROPOUT_SEMESTER_PATTERN")
    if pattern:
        match = re.search(pattern, course_id)
        if match and match.groupdict().get("semester"):
            return match["semester"]
        return None
    terms = os.environ.get("DROPOUT_SEMESTER_TERMS")
    if terms and start is not None:
        started = [name for term_start, name in _terms(terms) if term_start <= start]
        return started[-1] if started else None
    return default_semester(course_id)
