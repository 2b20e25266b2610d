"""Open edX course keys: the parts of `course-v1:ORG+CODE+RUN` the warehouse needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COURSE_V1 = re.compile(r"^course-v1:(?P<org>[^+]+)\+(?P<code>[^+]+)\+(?P<run>[^+]+)$")
_OLD_STYLE = re.compile(r"^(?P<org>[^/]+)/(?P<code>[^/]+)/(?P<run>[^/]+)$")


@dataclass(frozen=True)
class CourseKey:
    org: str | None
    code: str | None
    run: str | None


def parse_course_key(course_id: str) -> CourseKey:
    """Split a course id (new `course-v1:` or old `ORG/CODE/RUN` style); unknown → all None."""
    match = _COURSE_V1.match(course_id) or _OLD_STYLE.match(course_id)
    if match is None:
        return CourseKey(None, None, None)
    return CourseKey(match["org"], match["code"], match["run"])


def default_semester(course_id: str) -> str | None:
    """A course's semester by default: the run part of its key (`…+2025_S2` → `2025_S2`)."""
    return parse_course_key(course_id).run
