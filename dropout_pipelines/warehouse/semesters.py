"""Which semester a course belongs to.

Default: the run part of its key (`course-v1:ORG+CODE+2025_S2` → `2025_S2`). Institutions
whose run names are not semesters configure a `SemesterRule` on the warehouse resource
(`DROPOUT_SEMESTER_PATTERN` / `DROPOUT_SEMESTER_TERMS`): a regular expression over the
course id with a group named `semester` (e.g. `\\+(?P<semester>\\d{4}_S\\d)`), or start
dates of terms (`2025_S1=2025-01-01,2025_S2=2025-08-01`): a course belongs to the last term
that started on or before its start date. The rule is a value handed to ingestion and the
migration, so nothing below the resource reads the environment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from dropout_pipelines.warehouse.course_keys import default_semester


def _terms(spec: str) -> tuple[tuple[datetime, str], ...]:
    terms = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, start = item.partition("=")
        try:
            terms.append((datetime.fromisoformat(start.strip()), name.strip()))
        except ValueError as error:
            raise ValueError(
                f"DROPOUT_SEMESTER_TERMS item {item!r} is not NAME=YYYY-MM-DD"
            ) from error
    return tuple(sorted(terms))


@dataclass(frozen=True)
class SemesterRule:
    """How course ids (and start dates) map to semesters; empty = the key's run part."""

    pattern: str | None = None
    terms: str | None = None

    def __post_init__(self) -> None:
        # Fail when configured, not at the first course: a bad rule is a setup error.
        if self.pattern:
            re.compile(self.pattern)
        if self.terms:
            _terms(self.terms)

    def semester_for(self, course_id: str, start: datetime | None = None) -> str | None:
        """The course's semester under this rule (see the module docstring)."""
        if self.pattern:
            match = re.search(self.pattern, course_id)
            if match and match.groupdict().get("semester"):
                return match["semester"]
            return None
        if self.terms and start is not None:
            started = [name for term_start, name in _terms(self.terms) if term_start <= start]
            return started[-1] if started else None
        return default_semester(course_id)


DEFAULT_SEMESTER_RULE = SemesterRule()
