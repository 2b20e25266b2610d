"""JSON renderings of simulator records, field for field as edx-platform serializes them.

Kept apart from the routes so the shapes can be read (and compared with upstream) in one
place: course API ``CourseSerializer``, enrollment ``CourseEnrollmentsApiListSerializer``,
gradebook ``StudentGradebookEntrySerializer``, grades ``CourseGradesView`` rows, the
accounts API and the completion aggregator.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import urlencode

from dropout_pipelines.simulator.openedx.activity import MASTERS, MODES
from dropout_pipelines.simulator.openedx.catalog import (
    ASSIGNMENT_TYPES,
    GRADE_CUTOFFS,
    CourseInfo,
)
from dropout_pipelines.simulator.openedx.data import CourseAt, Snapshot, Users

GENDERS = ("m", "f", "o")
MODE_NAMES = tuple(str(mode) for mode in MODES)


def iso(moment: datetime | int) -> str:
    """DRF's DateTimeField rendering: ISO 8601 in UTC with a ``Z``."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(moment)))


def course_json(info: CourseInfo, base_url: str) -> dict:
    """``CourseSerializer`` / ``CourseDetailSerializer`` of the course API."""
    blocks = f"{base_url}/api/courses/v1/blocks/?{urlencode({'course_id': info.course_id})}"
    image = f"/asset-v1:{info.org}+{info.number}+{info.run}+type@asset+block@course_image.jpg"
    return {
        "blocks_url": blocks,
        "effort": "04:00",
        "end": iso(info.end),
        "enrollment_start": iso(info.enrollment_start),
        "enrollment_end": iso(info.enrollment_end),
        "id": info.course_id,
        "media": {
            "banner_image": {"uri": image, "uri_absolute": f"{base_url}{image}"},
            "course_image": {"uri": image},
            "course_video": {"uri": None},
            "image": {
                "raw": f"{base_url}{image}",
                "small": f"{base_url}{image}",
                "large": f"{base_url}{image}",
            },
        },
        "name": info.display_name,
        "number": info.number,
        "org": info.org,
        "short_description": f"{info.display_name} ({info.semester})",
        "start": iso(info.start),
        "start_display": f"{info.start:%b} {info.start.day}, {info.start.year}",
        "start_type": "timestamp",
        "pacing": "instructor",
        "mobile_available": True,
        "hidden": False,
        "invitation_only": False,
        "course_id": info.course_id,
    }


def enrollment_json(data: Snapshot, course: CourseAt, row: int) -> dict:
    """``CourseEnrollmentsApiListSerializer``: created, mode, is_active, user, course_id."""
    act = course.activity
    return {
        "created": iso(int(act.created_s[row])),
        "mode": MODE_NAMES[act.mode[row]],
        "is_active": bool(act.is_active[row]),
        "user": data.users.username(int(act.user[row])),
        "course_id": course.info.course_id,
    }


def section_breakdown(course: CourseAt, row: int) -> list[dict]:
    """The gradebook's per-subsection rows; unattempted ones show 0/0 as upstream does."""
    act = course.activity
    rows = []
    for s, sub in enumerate(course.info.subsections):
        attempted = bool(act.sub_attempted[row, s])
        earned = float(act.sub_earned[row, s]) if attempted else 0.0
        possible = float(sub.points_possible) if attempted else 0.0
        rows.append(
            {
                "attempted": attempted,
                "category": sub.assignment_type,
                "label": sub.label,
                "module_id": course.info.block_id("sequential", sub.slug),
                "percent": round(earned / possible, 4) if possible else 0.0,
                "score_earned": earned,
                "score_possible": possible,
                "subsection_name": sub.display_name,
            }
        )
    return rows


def letter_grade(percent: float) -> str | None:
    """The highest cutoff reached, or None below the lowest (edX's letter_grade)."""
    for letter, cutoff in sorted(GRADE_CUTOFFS.items(), key=lambda item: -item[1]):
        if percent >= cutoff:
            return letter
    return None


def gradebook_entry(
    data: Snapshot, course: CourseAt, row: int, base_url: str, fork_fields: bool
) -> dict:
    """``StudentGradebookEntrySerializer``; e-mail only for the masters track."""
    act = course.activity
    user = int(act.user[row])
    percent = round(float(act.percent[row]), 2)
    entry = {
        "user_id": data.users.user_id(user),
        "username": data.users.username(user),
        "email": data.users.email(user) if act.mode[row] == MASTERS else "",
        "percent": percent,
        "section_breakdown": section_breakdown(course, row),
        "profile_name": data.users.full_name(user),
    }
    if fork_fields:
        entry["full_name"] = data.users.full_name(user)
        entry["letter_grade"] = letter_grade(percent)
        entry["passed"] = letter_grade(percent) is not None
        entry["progress_page_url"] = (
            f"{base_url}/courses/{course.info.course_id}/progress/{data.users.user_id(user)}/"
        )
    return entry


def course_grade_json(data: Snapshot, course: CourseAt, row: int) -> dict:
    """A row of ``GET /api/grades/v1/courses/{course_id}/`` (CourseGradesView)."""
    act = course.activity
    user = int(act.user[row])
    percent = round(float(act.percent[row]), 2)
    return {
        "username": data.users.username(user),
        "email": data.users.email(user) if act.mode[row] == MASTERS else "",
        "course_id": course.info.course_id,
        "passed": letter_grade(percent) is not None,
        "percent": percent,
        "letter_grade": letter_grade(percent),
    }


def completion_json(data: Snapshot, course: CourseAt, row: int) -> dict:
    """A completion-aggregator course result (staff listing adds ``username``)."""
    act = course.activity
    earned = float(act.completion_earned[row])
    possible = float(act.completion_possible)
    return {
        "username": data.users.username(int(act.user[row])),
        "course_key": course.info.course_id,
        "completion": {
            "earned": earned,
            "possible": possible,
            "percent": round(earned / possible, 4) if possible else 0.0,
        },
    }


def account_json(users: Users, index: int, base_url: str) -> dict:
    """The accounts API as a staff caller sees it (``UserReadOnlySerializer``)."""
    username = users.username(index)
    return {
        "id": users.user_id(index),
        "username": username,
        "name": users.full_name(index),
        "email": users.email(index),
        "is_active": True,
        "date_joined": iso(int(users.joined_s[index])),
        "last_login": None,
        "url": f"{base_url}/api/user/v1/accounts/{username}",
        "bio": None,
        "country": "VN",
        "state": None,
        "city": None,
        "gender": GENDERS[users.gender[index]],
        "year_of_birth": int(users.year_of_birth[index]),
        "level_of_education": "b",
        "language_proficiencies": [{"code": "vi"}],
        "mailing_address": None,
        "goals": None,
        "time_zone": "Asia/Ho_Chi_Minh",
        "requires_parental_consent": False,
        "profile_image": {
            "has_image": False,
            "image_url_full": f"{base_url}/static/images/profiles/default_500.png",
            "image_url_large": f"{base_url}/static/images/profiles/default_120.png",
            "image_url_medium": f"{base_url}/static/images/profiles/default_50.png",
            "image_url_small": f"{base_url}/static/images/profiles/default_30.png",
        },
        "social_links": [],
        "extended_profile": [],
        "account_privacy": "private",
        "accomplishments_shared": False,
        "secondary_email": None,
    }


def grading_info_json(info: CourseInfo, graded_only: bool) -> dict:
    """``GET …/gradebook/{course_id}/grading-info`` (CourseGradingView)."""
    subsections = [
        {
            "assignment_type": sub.assignment_type,
            "graded": True,
            "short_label": sub.label,
            "module_id": info.block_id("sequential", sub.slug),
            "display_name": sub.display_name,
        }
        for sub in info.subsections
    ]
    if not graded_only:
        subsections.insert(
            0,
            {
                "assignment_type": None,
                "graded": False,
                "short_label": None,
                "module_id": info.block_id("sequential", "welcome"),
                "display_name": "Giới thiệu khóa học",
            },
        )
    return {
        "assignment_types": {
            atype.name: {
                "type": atype.name,
                "short_label": atype.short_label,
                "min_count": atype.min_count,
                "drop_count": atype.drop_count,
                "weight": atype.weight,
            }
            for atype in ASSIGNMENT_TYPES
        },
        "subsections": subsections,
        "grades_frozen": False,
        "can_see_bulk_management": False,
    }


def grading_policy_json() -> list[dict]:
    """``GET /api/grades/v1/policy/courses/{course_id}/`` (GradingPolicySerializer)."""
    return [
        {
            "assignment_type": atype.name,
            "count": atype.min_count,
            "dropped": atype.drop_count,
            "weight": atype.weight,
        }
        for atype in ASSIGNMENT_TYPES
    ]


def progress_json(data: Snapshot, course: CourseAt, row: int | None) -> dict:
    """The learner progress API (``/api/course_home/v1/progress/…``): where the grade
    cutoffs (``grading_policy.grade_range``) are exposed to LMS API clients."""
    percent = round(float(course.activity.percent[row]), 2) if row is not None else 0.0
    letter = letter_grade(percent) if row is not None else None
    return {
        "course_grade": {
            "letter_grade": letter,
            "percent": percent,
            "is_passing": letter is not None,
        },
        "end": iso(course.info.end),
        "enrollment_mode": str(MODES[course.activity.mode[row]]) if row is not None else None,
        "grading_policy": {
            "assignment_policies": [
                {
                    "num_droppable": atype.drop_count,
                    "num_total": atype.min_count,
                    "short_label": atype.short_label,
                    "type": atype.name,
                    "weight": atype.weight,
                }
                for atype in ASSIGNMENT_TYPES
            ],
            "grade_range": dict(GRADE_CUTOFFS),
        },
        "has_scheduled_content": False,
        "section_scores": [],
        "studio_url": None,
        "username": data.users.username(int(course.activity.user[row]))
        if row is not None
        else None,
        "user_has_passing_grade": letter is not None,
        "verified_mode": None,
    }
