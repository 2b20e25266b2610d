"""The simulator's whole world, generated once from a seed: users, courses, enrollments,
grades, completion and the xAPI statement table.

Everything is held as numpy columns and turned into JSON only for the rows a request asks
for, so serving a page costs O(page) whatever the course size (20,000 learners a course is a
benchmark setting, not a special case).
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import cached_property

import numpy as np

from dropout_pipelines.simulator.openedx.activity import (
    MODES,
    STATEMENT_COLUMNS,
    CourseActivity,
    simulate_course,
)
from dropout_pipelines.simulator.openedx.catalog import (
    DAY_S,
    GRADE_CUTOFFS,
    CourseInfo,
    build_catalog,
)
from dropout_pipelines.simulator.openedx.config import DataParams

FAMILY_NAMES = (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
    "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý",
)  # fmt: skip
MIDDLE_NAMES = ("Văn", "Thị", "Minh", "Hoàng", "Ngọc", "Thanh", "Đức", "Quốc", "Gia", "Bảo")
GIVEN_NAMES = (
    "An", "Bình", "Châu", "Dung", "Giang", "Hà", "Hải", "Hạnh", "Hiếu", "Hòa", "Hùng",
    "Hương", "Khoa", "Lan", "Linh", "Long", "Mai", "Nam", "Ngân", "Phong", "Phúc", "Quang",
    "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vy", "Yến", "Khánh",
)  # fmt: skip
EMAIL_DOMAIN = "st.example.edu.vn"
FIRST_USER_ID = 1001
SIMULATOR_EXTERNAL_ID_NAMESPACE = uuid.UUID("5d1e3f2a-8c4b-4f6e-9a7d-0b1c2d3e4f50")


def ascii_fold(text: str) -> str:
    """'Nguyễn' → 'nguyen': usernames are ASCII, as Open edX registration requires."""
    text = text.replace("Đ", "D").replace("đ", "d")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return folded.lower().replace(" ", "")


@dataclass
class Users:
    """The learner population shared by every course (learners take several courses)."""

    seed: int
    family: np.ndarray
    middle: np.ndarray
    given: np.ndarray
    ability: np.ndarray
    joined_s: np.ndarray
    year_of_birth: np.ndarray
    gender: np.ndarray
    _by_username: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.family)

    def user_id(self, index: int) -> int:
        return FIRST_USER_ID + int(index)

    def username(self, index: int) -> str:
        given = _GIVEN_ASCII[self.given[index]]
        family = _FAMILY_ASCII[self.family[index]]
        return f"{given}.{family}{FIRST_USER_ID + int(index)}"

    def full_name(self, index: int) -> str:
        return " ".join(
            (
                FAMILY_NAMES[self.family[index]],
                MIDDLE_NAMES[self.middle[index]],
                GIVEN_NAMES[self.given[index]],
            )
        )

    def email(self, index: int) -> str:
        return f"{self.username(index)}@{EMAIL_DOMAIN}"

    def external_id(self, index: int) -> str:
        """The anonymous id Open edX event routing puts in xAPI actors by default."""
        return str(uuid.uuid5(SIMULATOR_EXTERNAL_ID_NAMESPACE, f"{self.seed}:{int(index)}"))

    def index_of_username(self, username: str) -> int | None:
        if not self._by_username:
            self._by_username = {self.username(i): i for i in range(len(self))}
        return self._by_username.get(username)

    @cached_property
    def index_by_external_id(self) -> dict[str, int]:
        return {self.external_id(i): i for i in range(len(self))}

    @cached_property
    def index_by_email(self) -> dict[str, int]:
        return {self.email(i): i for i in range(len(self))}


_GIVEN_ASCII = tuple(ascii_fold(name) for name in GIVEN_NAMES)
_FAMILY_ASCII = tuple(ascii_fold(name) for name in FAMILY_NAMES)


@dataclass
class CourseData:
    """One course run with its learners, ordered the ways the APIs list them."""

    info: CourseInfo
    activity: CourseActivity
    enrollment_id: np.ndarray  # global, ascending with enrollment time
    by_id: np.ndarray  # enrollment indices by enrollment id (gradebook order)
    active_by_id: np.ndarray  # the active ones only (grade and completion APIs)
    _by_user: dict[int, int] = field(default_factory=dict, repr=False)

    def enrollment_of_user(self, user_index: int) -> int | None:
        """The course's enrollment index of a user, or None if not enrolled."""
        if not self._by_user:
            self._by_user = {int(u): i for i, u in enumerate(self.activity.user)}
        return self._by_user.get(int(user_index))


@dataclass
class StatementTable:
    """Every stored xAPI statement, as columns sorted by ``stored`` (strictly increasing)."""

    columns: dict[str, np.ndarray]
    stored_ms: np.ndarray
    by_course: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.stored_ms)


@dataclass
class Dataset:
    """The generated world; read-only once built."""

    params: DataParams
    now: datetime
    courses: tuple[CourseData, ...]
    users: Users
    statements: StatementTable
    course_index: dict[str, int]

    @property
    def now_s(self) -> int:
        return int(self.now.timestamp())

    def course(self, course_id: str) -> CourseData | None:
        index = self.course_index.get(course_id)
        return None if index is None else self.courses[index]

    @cached_property
    def enrollments_newest_first(self) -> tuple[np.ndarray, np.ndarray]:
        """(course index, enrollment index) arrays over every course, newest first."""
        courses = np.concatenate([np.full(len(c.by_id), c.info.index) for c in self.courses])
        rows = np.concatenate([c.by_id for c in self.courses])
        ids = np.concatenate([c.enrollment_id[c.by_id] for c in self.courses])
        order = np.argsort(-ids, kind="stable")
        return courses[order], rows[order]

    def passed(self, course: CourseData) -> np.ndarray:
        """Pass/fail as edX decides it: percent at or above the lowest cutoff."""
        return course.activity.percent >= min(GRADE_CUTOFFS.values())

    def summary(self) -> dict[str, object]:
        """A small description of the world, for the CLI banner and /simulator/info."""
        return {
            "seed": self.params.seed,
            "today": self.params.today.isoformat(),
            "now": self.now.isoformat().replace("+00:00", "Z"),
            "users": len(self.users),
            "statements": len(self.statements),
            "courses": [
                {
                    "course_id": c.info.course_id,
                    "name": c.info.display_name,
                    "semester": c.info.semester,
                    "start": c.info.start.isoformat().replace("+00:00", "Z"),
                    "end": c.info.end.isoformat().replace("+00:00", "Z"),
                    "phase": "ended" if c.info.has_ended(self.now) else "running",
                    "enrollments": len(c.activity.user),
                    "active_enrollments": len(c.active_by_id),
                }
                for c in self.courses
            ],
        }


def build_dataset(params: DataParams) -> Dataset:
    """Generate the world for ``params``; identical params give identical data."""
    now = datetime.combine(params.today, time(0, 0), tzinfo=UTC)
    now_s = int(now.timestamp())
    catalog = build_catalog(params.today, params.courses_per_semester, params.seed)
    users = _build_users(params, catalog)
    activities: list[CourseActivity] = []
    for info in catalog:
        rng = np.random.default_rng([params.seed, 100 + info.index])
        members = np.sort(rng.choice(len(users), size=params.students_per_course, replace=False))
        activities.append(simulate_course(info, members, users.ability, now_s, rng))

    created = np.concatenate([a.created_s for a in activities])
    owner = np.concatenate([np.full(len(a.user), i) for i, a in enumerate(activities)])
    within = np.concatenate([np.arange(len(a.user)) for a in activities])
    ranked = np.lexsort((within, owner, created))
    global_id = np.empty(len(created), np.int64)
    global_id[ranked] = np.arange(1, len(created) + 1)

    courses = []
    offset = 0
    for info, act in zip(catalog, activities, strict=True):
        ids = global_id[offset : offset + len(act.user)]
        offset += len(act.user)
        by_id = np.argsort(ids, kind="stable")
        courses.append(
            CourseData(
                info=info,
                activity=act,
                enrollment_id=ids,
                by_id=by_id,
                active_by_id=by_id[act.is_active[by_id]],
            )
        )
    statements = _build_statements(params, activities, now_s)
    return Dataset(
        params=params,
        now=now,
        courses=tuple(courses),
        users=users,
        statements=statements,
        course_index={c.info.course_id: c.info.index for c in courses},
    )


def _build_users(params: DataParams, catalog: tuple[CourseInfo, ...]) -> Users:
    rng = np.random.default_rng([params.seed, 0])
    size = max(
        params.students_per_course + 1,
        int(params.students_per_course * params.courses_per_semester * 0.6),
    )
    earliest = min(c.start_s for c in catalog)
    return Users(
        seed=params.seed,
        family=rng.integers(0, len(FAMILY_NAMES), size).astype(np.int8),
        middle=rng.integers(0, len(MIDDLE_NAMES), size).astype(np.int8),
        given=rng.integers(0, len(GIVEN_NAMES), size).astype(np.int8),
        ability=rng.standard_normal(size).astype(np.float32),
        joined_s=(earliest - rng.uniform(40, 900, size) * DAY_S).astype(np.int64),
        year_of_birth=rng.integers(1995, 2007, size).astype(np.int16),
        gender=rng.choice(3, size, p=(0.48, 0.48, 0.04)).astype(np.int8),
    )


def _build_statements(
    params: DataParams, activities: list[CourseActivity], now_s: int
) -> StatementTable:
    """Concatenate the courses' statements, add LRS storage delay, sort by ``stored``.

    ``stored`` is made strictly increasing so ``since`` (exclusive) pages never skip or
    repeat a statement.
    """
    columns = {
        name: np.concatenate([a.statements[name] for a in activities]) for name in STATEMENT_COLUMNS
    }
    rng = np.random.default_rng([params.seed, 2])
    stored = columns["ts_ms"] + rng.integers(200, 90_000, len(columns["ts_ms"]))
    keep = stored < now_s * 1000
    order = np.argsort(stored[keep], kind="stable")
    columns = {name: values[keep][order] for name, values in columns.items()}
    stored = stored[keep][order]
    ramp = np.arange(len(stored), dtype=np.int64)
    stored = np.maximum.accumulate(stored - ramp) + ramp
    course_col = columns["course"]
    by_course = [np.flatnonzero(course_col == i) for i in range(len(activities))]
    return StatementTable(columns=columns, stored_ms=stored, by_course=by_course)


def mode_name(code: int) -> str:
    return str(MODES[code])
