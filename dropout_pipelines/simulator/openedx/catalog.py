"""The simulated catalogue: semesters, course runs and what is inside each course.

Course runs are named like the university's real ones (``course-v1:DHQG-HCM+FM101+2026_S1``)
and one of them carries the characters a client must treat with care: ``.``, ``-``, ``_`` and
``~`` in the course number, and an apostrophe in the display name. Every course shares one
structure (units, videos, graded subsections, H5P contents) so features mean the same thing
across courses; only point values differ per course.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

DAY_S = 86_400
SEMESTER_WEEKS = 16
WEEKS_INTO_CURRENT = 9
WEEKS_BETWEEN_SEMESTERS = 26
LATE_COURSE_MIN_WEEKS = 4

COURSE_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("DHQG-HCM", "FM101", "Financial Management"),
    ("UEL", "NLTT241225", "Nguyên lý thống kê"),
    ("DHQG-HCM", "DS.AI-201_x~v2", "Founders' Guide to Data & AI"),
    ("DHQG-HCM", "MKT202", "Marketing Principles"),
    ("UEL", "KTVM101", "Kinh tế vi mô"),
    ("DHQG-HCM", "CS103", "Programming with Python"),
)

GRADE_CUTOFFS = {"A": 0.85, "B": 0.7, "C": 0.55, "D": 0.5}


@dataclass(frozen=True)
class AssignmentType:
    """A grader entry of the course's grading policy (as Studio's Grading page sets it)."""

    name: str
    short_label: str
    min_count: int
    drop_count: int
    weight: float


@dataclass(frozen=True)
class Subsection:
    """A graded subsection (sequential) with the point values of its problems."""

    slug: str
    display_name: str
    assignment_type: str
    label: str
    due_frac: float
    problem_points: tuple[int, ...]

    @property
    def points_possible(self) -> int:
        return sum(self.problem_points)


@dataclass(frozen=True)
class H5PContent:
    """An H5P activity embedded in the course, and the xAPI verb its library emits."""

    slug: str
    title: str
    library: str
    verb: str
    max_score: int
    unlock_frac: float
    base_duration_s: float
    interactive: bool


ASSIGNMENT_TYPES = (
    AssignmentType("Homework", "HW", 5, 1, 0.3),
    AssignmentType("Midterm Exam", "Midterm", 1, 0, 0.3),
    AssignmentType("Final Exam", "Final", 1, 0, 0.4),
)

UNIT_FRACS = tuple(round(k / 10, 3) for k in range(10))
VIDEO_FRACS = tuple(round(0.02 + k * 0.15, 3) for k in range(6))
VIDEO_LENGTHS_S = (312, 545, 418, 701, 260, 489)

H5P_LIBRARIES = (
    ("Kiểm tra nhanh tuần 1", "H5P.QuestionSet-1.20", "completed", False),
    ("Câu hỏi trắc nghiệm: khái niệm", "H5P.MultiChoice-1.16", "answered", False),
    ("Interactive lecture: case study", "H5P.InteractiveVideo-1.27", "completed", True),
    ("Kéo thả: phân loại", "H5P.DragQuestion-1.14", "answered", False),
    ("True / False review", "H5P.TrueFalse-1.8", "answered", False),
    ("Course presentation: summary", "H5P.CoursePresentation-1.26", "completed", True),
)


@dataclass(frozen=True)
class CourseInfo:
    """One course run: identity, dates, phase and structure."""

    index: int
    course_id: str
    org: str
    number: str
    run: str
    display_name: str
    semester: str
    start: datetime
    end: datetime
    enrollment_start: datetime
    enrollment_end: datetime
    subsections: tuple[Subsection, ...]
    h5p: tuple[H5PContent, ...]
    announced: datetime | None = None  # a late course is listed only from this moment

    @property
    def start_s(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_s(self) -> int:
        return int(self.end.timestamp())

    def block_id(self, block_type: str, slug: str) -> str:
        """The usage key of a block in this course (``block-v1:ORG+NUM+RUN+type@…+block@…``)."""
        return f"block-v1:{self.org}+{self.number}+{self.run}+type@{block_type}+block@{slug}"

    def has_ended(self, now: datetime) -> bool:
        return self.end <= now

    def is_listed(self, now: datetime) -> bool:
        """Whether the course APIs know the course at ``now`` (upcoming courses are listed,
        as Open edX lists them; a late course only once it is announced)."""
        return self.announced is None or self.announced <= now

    def phase(self, now: datetime) -> str:
        if self.has_ended(now):
            return "ended"
        return "running" if self.start <= now else "upcoming"


def semester_name(start: date) -> str:
    """``YYYY_S1`` for runs starting January–June, ``YYYY_S2`` otherwise."""
    return f"{start.year}_S{1 if start.month <= 6 else 2}"


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(1, 0), tzinfo=UTC)


def build_catalog(
    today: date,
    courses_per_semester: int,
    seed: int,
    late_courses: int = 0,
    late_announce_days: int = 7,
) -> tuple[CourseInfo, ...]:
    """Previous (ended) semester first, then the current (running) one, then late courses.

    The current semester started nine weeks before ``today`` and runs sixteen, so mid-term
    predictions have something to work with; the previous one ended months ago, with final
    grades, so there is a labelled semester to train on. Late courses join the current
    semester mid-term: the k-th (from 0) is announced ``late_announce_days + 7 k`` days after
    ``today``, starts two days later and ends with the semester.
    """
    rng = np.random.default_rng([seed, 1])
    current_start = today - timedelta(weeks=WEEKS_INTO_CURRENT)
    previous_start = current_start - timedelta(weeks=WEEKS_BETWEEN_SEMESTERS)
    courses: list[CourseInfo] = []
    for semester_start in (previous_start, current_start):
        semester = semester_name(semester_start)
        for slot in range(courses_per_semester):
            start = _start_of_day(semester_start + timedelta(days=slot % 7))
            courses.append(
                _course(
                    rng,
                    len(courses),
                    slot,
                    semester,
                    start,
                    start + timedelta(weeks=SEMESTER_WEEKS),
                    start - timedelta(days=30),
                )
            )
    semester = semester_name(current_start)
    semester_end = max(c.end for c in courses if c.semester == semester)
    for k in range(late_courses):
        announced = datetime.combine(
            today + timedelta(days=late_announce_days + 7 * k), time(0, 0), tzinfo=UTC
        )
        start = _start_of_day(announced.date() + timedelta(days=2))
        end = max(semester_end, start + timedelta(weeks=LATE_COURSE_MIN_WEEKS))
        slot = courses_per_semester + k
        course = _course(rng, len(courses), slot, semester, start, end, announced)
        courses.append(replace(course, announced=announced))
    return tuple(courses)


def _course(
    rng: np.random.Generator,
    index: int,
    slot: int,
    semester: str,
    start: datetime,
    end: datetime,
    enrollment_start: datetime,
) -> CourseInfo:
    org, number, name = COURSE_TEMPLATES[slot % len(COURSE_TEMPLATES)]
    if slot >= len(COURSE_TEMPLATES):
        number = f"{number}-{slot // len(COURSE_TEMPLATES) + 1}"
        name = f"{name} ({slot // len(COURSE_TEMPLATES) + 1})"
    return CourseInfo(
        index=index,
        course_id=f"course-v1:{org}+{number}+{semester}",
        org=org,
        number=number,
        run=semester,
        display_name=name,
        semester=semester,
        start=start,
        end=end,
        enrollment_start=enrollment_start,
        enrollment_end=start + timedelta(days=21),
        subsections=_subsections(rng),
        h5p=_h5p_contents(rng),
    )


def _subsections(rng: np.random.Generator) -> tuple[Subsection, ...]:
    homework = tuple(
        Subsection(
            slug=f"hw{k + 1:02d}",
            display_name=f"Bài tập tuần {2 * k + 2}",
            assignment_type="Homework",
            label=f"HW {k + 1:02d}",
            due_frac=round(0.12 + 0.17 * k, 3),
            problem_points=tuple(int(p) for p in rng.integers(1, 4, size=2)),
        )
        for k in range(5)
    )
    midterm = Subsection("midterm", "Midterm Exam", "Midterm Exam", "Midterm", 0.5, (5, 5))
    final = Subsection("final", "Final Exam", "Final Exam", "Final", 0.96, (10, 10))
    return (*homework, midterm, final)


def _h5p_contents(rng: np.random.Generator) -> tuple[H5PContent, ...]:
    maxima = rng.integers(5, 21, size=len(H5P_LIBRARIES))
    return tuple(
        H5PContent(
            slug=f"h5p{k + 1:02d}",
            title=title,
            library=library,
            verb=verb,
            max_score=int(maxima[k]),
            unlock_frac=round(0.05 + 0.15 * k, 3),
            base_duration_s=float(90 + 60 * k),
            interactive=interactive,
        )
        for k, (title, library, verb, interactive) in enumerate(H5P_LIBRARIES)
    )
