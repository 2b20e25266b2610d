"""The simulator's whole world, generated once from a seed: users, courses, enrollments,
grades, completion and the xAPI statement table, over the whole of every course run.

The simulator clock decides what is visible: :meth:`Dataset.at` gives a :class:`Snapshot`,
the world as the APIs show it at one moment. Everything is held as numpy columns and turned
into JSON only for the rows a request asks for, so serving a page costs O(page) whatever the
course size (20,000 learners a course is a benchmark setting, not a special case).
"""

from __future__ import annotations

import threading
import unicodedata
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from functools import cached_property

import numpy as np

from dropout_pipelines.simulator.openedx.activity import (
    STATEMENT_COLUMNS,
    ActivityAt,
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
SNAPSHOTS_KEPT = 8


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
    """One course run over its whole life: every enrollment and every event it will have.

    Rows are in enrollment order, which is also enrollment id order (gradebook order).
    """

    info: CourseInfo
    activity: CourseActivity
    enrollment_id: np.ndarray  # global, ascending with enrollment time (and with the row)
    _by_user: dict[int, int] = field(default_factory=dict, repr=False)

    def row_of_user(self, user_index: int) -> int | None:
        """The enrollment row of a user over the whole run, or None if never enrolled."""
        if not self._by_user:
            self._by_user = {int(u): i for i, u in enumerate(self.activity.user)}
        return self._by_user.get(int(user_index))


class CourseAt:
    """A course as the APIs show it at one moment: what :class:`CourseData` was before the
    simulator had a clock (``info``, ``activity``, ``by_id``, ``active_by_id``)."""

    def __init__(self, whole: CourseData, now_ms: int) -> None:
        self.whole = whole
        self.info = whole.info
        self.activity = ActivityAt(whole.info, whole.activity, now_ms)
        self.enrollment_id = whole.enrollment_id[: len(self.activity)]

    @property
    def by_id(self) -> np.ndarray:
        """Enrollment rows by enrollment id (rows are already in that order)."""
        return np.arange(len(self.activity))

    @cached_property
    def active_by_id(self) -> np.ndarray:
        """The active enrollments, by id (the grade and completion APIs list these)."""
        return np.flatnonzero(self.activity.is_active)

    def enrollment_of_user(self, user_index: int) -> int | None:
        """The course's enrollment row of a user, or None if not enrolled (yet)."""
        row = self.whole.row_of_user(user_index)
        return row if row is not None and row < len(self.activity) else None


@dataclass
class StatementTable:
    """Stored xAPI statements, as columns sorted by ``stored`` (strictly increasing).

    The world's table holds every statement of every course's whole run; the LRS at a moment
    serves the prefix stored by then (:meth:`as_of`), so a statement, once visible, keeps its
    ``stored`` and everything new is stored after it.
    """

    columns: dict[str, np.ndarray]
    stored_ms: np.ndarray
    by_course: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.stored_ms)

    def visible_count(self, now_ms: int) -> int:
        """How many statements are stored by ``now_ms`` (they are the first ones)."""
        return int(np.searchsorted(self.stored_ms, now_ms, "right"))

    def as_of(self, now_ms: int) -> StatementTable:
        """The statements stored by ``now_ms``: views, no copies (O(courses · log n))."""
        count = self.visible_count(now_ms)
        return StatementTable(
            columns={name: values[:count] for name, values in self.columns.items()},
            stored_ms=self.stored_ms[:count],
            by_course=[rows[: np.searchsorted(rows, count)] for rows in self.by_course],
        )


@dataclass
class Dataset:
    """The generated world over the whole of every course run; read-only once built.

    What the APIs show depends on the simulator clock: :meth:`at` gives the world as of a
    moment (cached, so requests between two clock moves share one snapshot).
    """

    params: DataParams
    initial_now: datetime
    courses: tuple[CourseData, ...]
    users: Users
    statements: StatementTable
    course_index: dict[str, int]
    _snapshots: OrderedDict[int, Snapshot] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def course(self, course_id: str) -> CourseData | None:
        index = self.course_index.get(course_id)
        return None if index is None else self.courses[index]

    @cached_property
    def enrollment_order(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(course index, row, created_s) of every enrollment, ascending by enrollment id."""
        courses = np.concatenate([np.full(len(c.activity), c.info.index) for c in self.courses])
        rows = np.concatenate([np.arange(len(c.activity)) for c in self.courses])
        ids = np.concatenate([c.enrollment_id for c in self.courses])
        created = np.concatenate([c.activity.created_s for c in self.courses])
        order = np.argsort(ids, kind="stable")
        return courses[order], rows[order], created[order]

    def at(self, now: datetime | int) -> Snapshot:
        """The world as the APIs show it at ``now`` (an aware datetime or epoch ms)."""
        now_ms = now if isinstance(now, int) else int(round(now.timestamp() * 1000))
        with self._lock:
            snapshot = self._snapshots.get(now_ms)
            if snapshot is not None:
                self._snapshots.move_to_end(now_ms)
                return snapshot
        snapshot = Snapshot(self, now_ms)
        with self._lock:
            self._snapshots[now_ms] = snapshot
            while len(self._snapshots) > SNAPSHOTS_KEPT:
                self._snapshots.popitem(last=False)
        return snapshot


class Snapshot:
    """The world at one moment of the simulator clock: enrollments created by then, the
    unenrollments that happened, grades and completion from the events up to then, the
    statements stored by then, and the courses announced by then.

    Building one is O(courses); per-course arrays are derived with numpy when a request
    first needs them, so serving stays O(page).
    """

    def __init__(self, world: Dataset, now_ms: int) -> None:
        self.world = world
        self.params = world.params
        self.users = world.users
        self.now_ms = now_ms
        self.now = datetime.fromtimestamp(now_ms / 1000, UTC)
        self.courses = tuple(CourseAt(course, now_ms) for course in world.courses)
        self.statements = world.statements.as_of(now_ms)
        self.listed_courses = tuple(c for c in self.courses if c.info.is_listed(self.now))

    @property
    def now_s(self) -> int:
        return self.now_ms // 1000

    def course(self, course_id: str) -> CourseAt | None:
        """A course the APIs know now (None when unknown or not announced yet)."""
        index = self.world.course_index.get(course_id)
        if index is None or not self.courses[index].info.is_listed(self.now):
            return None
        return self.courses[index]

    @cached_property
    def enrollments_newest_first(self) -> tuple[np.ndarray, np.ndarray]:
        """(course index, enrollment row) arrays over every course, newest first."""
        courses, rows, created = self.world.enrollment_order
        count = int(np.searchsorted(created, self.now_s, "right"))
        return courses[:count][::-1], rows[:count][::-1]

    def passed(self, course: CourseAt) -> np.ndarray:
        """Pass/fail as edX decides it: percent at or above the lowest cutoff."""
        return course.activity.percent >= min(GRADE_CUTOFFS.values())

    def summary(self) -> dict[str, object]:
        """A small description of the world now, for the CLI banner and /simulator/info."""
        return {
            "seed": self.params.seed,
            "today": self.params.today.isoformat(),
            "now": _iso(self.now),
            "users": len(self.users),
            "statements": len(self.statements),
            "courses": [
                {
                    "course_id": c.info.course_id,
                    "name": c.info.display_name,
                    "semester": c.info.semester,
                    "start": _iso(c.info.start),
                    "end": _iso(c.info.end),
                    "announced": _iso(c.info.announced) if c.info.announced else None,
                    "listed": c.info.is_listed(self.now),
                    "phase": c.info.phase(self.now),
                    "enrollments": len(c.activity),
                    "active_enrollments": len(c.active_by_id),
                }
                for c in self.courses
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def build_dataset(params: DataParams) -> Dataset:
    """Generate the world for ``params``; identical params give identical data."""
    now = datetime.combine(params.today, time(0, 0), tzinfo=UTC)
    now_s = int(now.timestamp())
    catalog = build_catalog(
        params.today,
        params.courses_per_semester,
        params.seed,
        params.late_courses,
        params.late_announce_days,
    )
    users = _build_users(params, catalog)
    activities: list[CourseActivity] = []
    for info in catalog:
        rng = np.random.default_rng([params.seed, 100 + info.index])
        members = np.sort(rng.choice(len(users), size=params.students_per_course, replace=False))
        later = np.random.default_rng([params.seed, 100 + info.index, 1])
        views = np.random.default_rng([params.seed, 100 + info.index, 99])
        activities.append(simulate_course(info, members, users.ability, rng, later, now_s, views))

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
        courses.append(CourseData(info=info, activity=act, enrollment_id=ids))
    statements = _build_statements(params, activities)
    return Dataset(
        params=params,
        initial_now=now,
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


def _build_statements(params: DataParams, activities: list[CourseActivity]) -> StatementTable:
    """Concatenate the courses' statements, add LRS storage delay, sort by ``stored``.

    Statements before the clock's start come first and draw their delays from the stream a
    frozen simulator used, so that part of the table is unchanged; page views come last,
    with delays from a stream of their own, so adding them changes no other statement's
    delay. ``stored`` is then made strictly increasing so ``since`` (exclusive) pages never
    skip or repeat a statement.
    """
    parts = (
        [
            {name: a.statements[name][: a.past_statements] for name in STATEMENT_COLUMNS}
            for a in activities
        ]
        + [
            {name: a.statements[name][a.past_statements :] for name in STATEMENT_COLUMNS}
            for a in activities
        ]
        + [a.views for a in activities]
    )
    columns = {name: np.concatenate([part[name] for part in parts]) for name in STATEMENT_COLUMNS}
    past = sum(a.past_statements for a in activities)
    views = sum(len(a.views["ts_ms"]) for a in activities)
    ts = columns["ts_ms"]
    delay = np.concatenate(
        [
            np.random.default_rng([params.seed, 2]).integers(200, 90_000, past),
            np.random.default_rng([params.seed, 3]).integers(200, 90_000, len(ts) - past - views),
            np.random.default_rng([params.seed, 4]).integers(200, 90_000, views),
        ]
    )
    stored = ts + delay
    order = stable_order(stored)
    columns = {name: values[order] for name, values in columns.items()}
    stored = stored[order]
    ramp = np.arange(len(stored), dtype=np.int64)
    stored = np.maximum.accumulate(stored - ramp) + ramp
    course_col = columns["course"]
    by_course = [np.flatnonzero(course_col == i) for i in range(len(activities))]
    return StatementTable(columns=columns, stored_ms=stored, by_course=by_course)


def stable_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for int64 values, many times faster: the values
    (less their minimum) and the positions are packed into one int64 key and sorted in place."""
    count = len(values)
    if not count:
        return np.zeros(0, np.int64)
    shifted = values - values.min()
    bits = max(1, (count - 1).bit_length())
    if int(shifted.max()) >= 1 << (62 - bits):
        return np.argsort(values, kind="stable")
    key = (shifted << bits) | np.arange(count, dtype=np.int64)
    key.sort()
    return key & ((1 << bits) - 1)
