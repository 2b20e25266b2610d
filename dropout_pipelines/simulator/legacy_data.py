"""A realistic v1 `raw_data` table (SPEC §4), for the migration's tests, the demo and benchmarks.

The migration must survive what real legacy tables look like, so this generator produces it
on purpose: Vietnamese names with diacritics, students in several courses, unlabelled rows
(live students), scattered NULLs, older duplicates of the same (user_id, course_id) whose
`updated_at` is older and whose values differ, rows without a semester, scores that agree with
their risk level, and drifted schemas (dropped and extra columns).

Generation is vectorised with numpy (one million rows in seconds) and deterministic for a
seed. Every random stream is drawn in a fixed order from one generator, and extra columns
draw from their own generator keyed by the column name, so dropping or adding a column never
changes the values of the others.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.settings import db_url_from_env
from dropout_pipelines.warehouse.bulk import insert_frame_params
from dropout_pipelines.warehouse.course_keys import default_semester
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.legacy_schema import (
    LEGACY_COLUMN_NAMES,
    LEGACY_FEATURE_NAMES,
    LEGACY_TABLE_NAME,
    raw_data_v1,
)
from dropout_pipelines.warehouse.risk_levels import risk_levels
from dropout_pipelines.warehouse.schema import MYSQL_TABLE_OPTIONS
from dropout_pipelines.warehouse.urls import mask_url

DEFAULT_COURSE_IDS: tuple[str, ...] = (
    "course-v1:DHQG-HCM+FM101+2025_S1",
    "course-v1:UEL+NLTT241225+2025_12",
    "course-v1:DHQG-HCM+FM101+2025_S2",
    "course-v1:HCMUS+CS201+2025_S1",
    "course-v1:UEL+KTCT101+2025_S2",
)
# Opt-in only: an id that breaks naive string-built SQL (quote) and LIKE patterns (% and _).
SQL_SPECIAL_COURSE_ID = "course-v1:O'Reilly+SQL_101%+2025_S1"

LETTER_CUTOFFS: tuple[tuple[str, float], ...] = (("A", 85.0), ("B", 70.0), ("C", 55.0), ("D", 40.0))
PASS_CUTOFF = 40.0  # Vietnamese credit scale: D (4.0/10) and above pass.

FEATURE_COLUMNS = LEGACY_FEATURE_NAMES
LABEL_COLUMNS: tuple[str, ...] = ("is_passed", "is_dropout", "final_grade")
_NUMERIC_EXTRA_SUFFIXES = ("_score", "_rate", "_minutes", "_count", "_pct", "_grade", "_points")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

_YEAR_START = np.datetime64("2025-01-01T00:00:00", "s")
_YEAR_END = np.datetime64("2025-12-31T23:59:59", "s")
_DAY = 86_400
_HOUR = 3_600


def _parts(text: str) -> tuple[str, ...]:
    """Name parts written as one `|`-separated line each: far easier to read than a literal."""
    return tuple(text.split("|"))


# Name parts. Vietnamese full names are family + middle + given; the middle name carries the
# gender (Văn / Thị) often enough that the lists are split by gender.
_FAMILY = _parts("Nguyễn|Trần|Lê|Phạm|Hoàng|Huỳnh|Phan|Vũ|Võ|Đặng|Bùi|Đỗ|Hồ|Ngô|Dương|Lý")
_FAMILY_WEIGHTS = (38, 11, 9.5, 7, 5, 4, 4.5, 3.9, 3, 2.1, 2, 1.4, 1.3, 1.3, 1, 0.5)
_MIDDLE_FEMALE = _parts("Thị|Thị Minh|Thị Thu|Ngọc|Thị Ngọc|Thanh|Thùy|Bảo|Mai|Phương")
_MIDDLE_MALE = _parts("Văn|Hữu|Đức|Minh|Quốc|Gia|Thanh|Văn Minh|Công|Hoàng")
_GIVEN_FEMALE = _parts(
    "Anh|Linh|Trang|Hương|Hà|Ngọc|Thảo|Vy|Nhi|Hạnh|Lan|Mai|Yến|Trâm|Quỳnh|Diệp|Châu|Nga|Uyên|Thư"
)
_GIVEN_MALE = _parts(
    "Bình|Dũng|Hùng|Khoa|Long|Nam|Phúc|Quân|Sơn|Tuấn|Việt|Đạt|Huy|Khánh|Lộc|Minh|Nhân|Thắng|Trí|Hiếu"
)
_EMAIL_DOMAINS = ("gmail.com", "st.uel.edu.vn", "hcmus.edu.vn", "yahoo.com", "outlook.com")
_EMAIL_DOMAIN_WEIGHTS = (0.55, 0.15, 0.15, 0.08, 0.07)


@dataclass(frozen=True)
class LegacyDataSpec:
    """What to generate. The defaults give the demo's table: 984 rows over three courses."""

    rows: int = 984
    courses: int = 3
    seed: int = 7
    unlabelled_share: float = 0.06
    duplicate_share: float = 0.02
    drop_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ("legacy_cohort",)
    course_ids: tuple[str, ...] | None = None
    scored_share: float = 1.0
    feature_null_share: float = 0.02
    semester_null_share: float = 0.03

    def __post_init__(self) -> None:
        _validate_spec(self)

    def resolved_course_ids(self) -> tuple[str, ...]:
        """The explicit ids when given, else `courses` realistic Open edX ids."""
        if self.course_ids is not None:
            return tuple(self.course_ids)
        return default_course_ids(self.courses)

    def columns(self) -> tuple[str, ...]:
        """Output columns: legacy order minus the dropped ones, then the extras."""
        kept = tuple(name for name in LEGACY_COLUMN_NAMES if name not in self.drop_columns)
        return kept + tuple(self.extra_columns)


@dataclass(frozen=True)
class LegacyDataSummary:
    """What a generated table contains, for the CLI line and for reports."""

    rows: int
    courses: int
    duplicated_keys: int
    unlabelled: int


def _validate_spec(spec: LegacyDataSpec) -> None:
    """Reject impossible specs up front, with a message that names the bad field."""
    if spec.rows < 1:
        raise ValueError(f"rows must be >= 1, got {spec.rows}")
    shares = ("unlabelled_share", "duplicate_share", "scored_share", "feature_null_share")
    for name in (*shares, "semester_null_share"):
        value = getattr(spec, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {value}")
    if spec.duplicate_share > 0.5:
        raise ValueError("duplicate_share must be <= 0.5: each duplicate needs its own original")
    course_ids = spec.course_ids
    if course_ids is None and spec.courses < 1:
        raise ValueError(f"courses must be >= 1, got {spec.courses}")
    if course_ids is not None and (not course_ids or len(set(course_ids)) != len(course_ids)):
        raise ValueError(f"course_ids must be non-empty and distinct, got {course_ids!r}")
    unknown = sorted(set(spec.drop_columns) - set(LEGACY_COLUMN_NAMES))
    if unknown:
        raise ValueError(f"drop_columns are not legacy columns: {unknown}")
    if "id" in spec.drop_columns:
        raise ValueError("the primary key `id` cannot be dropped")
    for name in spec.extra_columns:
        if not _IDENTIFIER.match(name) or name in LEGACY_COLUMN_NAMES:
            raise ValueError(f"extra column {name!r} must be a new identifier of <= 64 chars")
    if len(set(spec.extra_columns)) != len(spec.extra_columns):
        raise ValueError(f"extra_columns must be distinct, got {spec.extra_columns!r}")


def default_course_ids(count: int) -> tuple[str, ...]:
    """Realistic ids: the well-known ones first, then more FM courses of 2025."""
    known = DEFAULT_COURSE_IDS[:count]
    more = tuple(
        f"course-v1:DHQG-HCM+FM{201 + index}+2025_S{1 + index % 2}"
        for index in range(count - len(known))
    )
    return known + more


def _course_start_day(course_id: str, index: int) -> int:
    """Day of 2025 a course starts, from its run name when it reads like a term or a month."""
    run = default_semester(course_id) or ""
    term = re.search(r"_S([12])$", run)
    if term:
        return 5 if term.group(1) == "1" else 215
    month = re.search(r"_(\d{2})$", run)
    if month and 1 <= int(month.group(1)) <= 12:
        return min(30 * (int(month.group(1)) - 1), 300)
    return (index * 61) % 240


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _to_ascii(text: str) -> str:
    """Diacritics removed (đ is its own letter, not a combining mark), for usernames."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def _name_table() -> tuple[np.ndarray, np.ndarray, int]:
    """Every (family, middle, given) combination once, so students just index into it.

    Returns full names, ascii username stems and the number of female combinations (they come
    first); within a gender, combinations are grouped by family in `_FAMILY` order.
    """
    full: list[str] = []
    stems: list[str] = []
    female = 0
    for middles, givens in ((_MIDDLE_FEMALE, _GIVEN_FEMALE), (_MIDDLE_MALE, _GIVEN_MALE)):
        for family in _FAMILY:
            for middle in middles:
                for given in givens:
                    full.append(f"{family} {middle} {given}")
                    stems.append(f"{_to_ascii(given)}.{_to_ascii(family)}")
        female = female or len(full)
    return np.array(full, dtype=object), np.array(stems, dtype=object), female


def _students(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """Per-student identity and latent engagement, shared by all of a student's courses."""
    names, stems, female = _name_table()
    is_female = rng.random(count) < 0.52
    family_p = np.asarray(_FAMILY_WEIGHTS) / np.sum(_FAMILY_WEIGHTS)
    family = rng.choice(len(_FAMILY), size=count, p=family_p)
    per_family_f = female // len(_FAMILY)
    per_family_m = (len(names) - female) // len(_FAMILY)
    offset_f = rng.integers(0, per_family_f, size=count)
    offset_m = rng.integers(0, per_family_m, size=count)
    combo = np.where(
        is_female,
        family * per_family_f + offset_f,
        female + family * per_family_m + offset_m,
    )
    user_id = np.arange(count, dtype=np.int64) + 10_001
    domain_p = np.asarray(_EMAIL_DOMAIN_WEIGHTS) / np.sum(_EMAIL_DOMAIN_WEIGHTS)
    domain = np.asarray(_EMAIL_DOMAINS, dtype=object)[
        rng.choice(len(_EMAIL_DOMAINS), size=count, p=domain_p)
    ]
    username = pd.Series(stems[combo]) + pd.Series(user_id).astype(str)
    email = username + "@" + pd.Series(domain)
    return {
        "user_id": user_id,
        "full_name": names[combo],
        "username": username.to_numpy(dtype=object),
        "email": email.to_numpy(dtype=object),
        "engagement": rng.normal(0.0, 1.0, size=count),
    }


def _assign_enrolments(
    rng: np.random.Generator, base_rows: int, course_count: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Course and student index per original row; a student appears at most once per course.

    Within a course, rows take consecutive ranks; rank + a per-course offset, modulo the pool
    size and through one shared permutation, is a bijection, so students are distinct within a
    course and overlap (realistically) across courses.
    """
    weights = 1.0 + rng.random(course_count)
    course = rng.choice(course_count, size=base_rows, p=weights / weights.sum())
    course[: min(course_count, base_rows)] = np.arange(min(course_count, base_rows))
    counts = np.bincount(course, minlength=course_count)
    pool = int(np.ceil(counts.max() * 1.25)) + 1
    order = np.argsort(course, kind="stable")
    starts = np.cumsum(counts) - counts
    rank = np.empty(base_rows, dtype=np.int64)
    rank[order] = np.arange(base_rows) - np.repeat(starts, counts)
    offsets = rng.integers(0, pool, size=course_count)
    permutation = rng.permutation(pool)
    student = permutation[(rank + offsets[course]) % pool]
    return course, student, pool


def _timestamps(
    rng: np.random.Generator, start_day: np.ndarray, is_duplicate: np.ndarray, original: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """created_at, updated_at (>= created_at) and the progress (0..1] of each row's snapshot.

    A duplicate keeps its original's created_at and stops strictly earlier, so its updated_at
    is older; its progress is the fraction of the original's active span it saw.
    """
    rows = start_day.size
    created = start_day * _DAY + rng.integers(0, 14 * _DAY, size=rows)
    year_seconds = int((_YEAR_END - _YEAR_START) / np.timedelta64(1, "s"))
    longest = np.minimum(120 * _DAY, year_seconds - created)
    updated = created + _HOUR + np.floor(rng.random(rows) * (longest - _HOUR)).astype(np.int64)
    fraction = rng.uniform(0.2, 0.8, size=rows)
    created = np.where(is_duplicate, created[original], created)
    original_span = updated[original] - created
    older = created + np.maximum(np.floor(fraction * original_span).astype(np.int64), 0)
    older = np.minimum(older, updated[original] - 1)
    updated = np.where(is_duplicate, older, updated)
    progress = np.where(is_duplicate, fraction, 1.0)
    return created, updated, progress


def _features(
    rng: np.random.Generator, latent: np.ndarray, progress: np.ndarray, h5p_contents: np.ndarray
) -> dict[str, np.ndarray]:
    """MOOC and H5P features driven by the latent engagement, scaled by snapshot progress."""
    rows = latent.size
    completion = _sigmoid(1.6 * latent + 0.9 + rng.normal(0, 0.5, rows)) * progress
    quality = _sigmoid(1.1 * latent + 1.0 + rng.normal(0, 0.45, rows))
    grade = np.clip(100.0 * quality * (0.45 + 0.55 * completion), 0.0, 100.0)
    attempt_p = np.clip(_sigmoid(1.4 * latent + 0.8) * progress, 0.0, 1.0)
    attempted = rng.binomial(h5p_contents, attempt_p)
    score_rate = _sigmoid(1.0 * latent + 0.9 + rng.normal(0, 0.5, rows))
    max_score = attempted * 10.0
    minutes = attempted * rng.gamma(2.0, 3.5, rows) * (1.2 - 0.3 * score_rate)
    inactivity = rng.exponential(2.0 + 25.0 * _sigmoid(-1.5 * latent), rows)
    return {
        "mooc_grade_percentage": np.round(grade, 2),
        "mooc_completion_rate": np.round(completion, 4),
        "h5p_total_score": np.round(max_score * score_rate, 1),
        "h5p_max_score": max_score,
        "h5p_completion_rate": np.round(attempted / np.maximum(h5p_contents, 1), 4),
        "h5p_time_spent_minutes": np.round(minutes, 1),
        "h5p_contents_attempted": attempted,
        "days_since_last_activity": np.minimum(inactivity, 180).astype(np.int64),
    }


def letter_grades(grade: np.ndarray) -> np.ndarray:
    """A/B/C/D/F from a 0-100 grade (object array; None where the grade is missing)."""
    letters = np.full(grade.shape, "F", dtype=object)
    for letter, cutoff in reversed(LETTER_CUTOFFS):
        letters[grade >= cutoff] = letter
    letters[np.isnan(grade)] = None
    return letters


def _labels(rng: np.random.Generator, latent: np.ndarray) -> dict[str, np.ndarray]:
    """End-of-term outcomes from the latent engagement plus noise; dropouts never pass."""
    rows = latent.size
    dropout = rng.random(rows) < _sigmoid(-2.2 * latent - 2.8 + rng.normal(0, 0.4, rows))
    final = np.clip(100 * _sigmoid(1.3 * latent + 0.7 + rng.normal(0, 0.5, rows)), 0, 100)
    final = np.where(dropout, final * rng.uniform(0.1, 0.6, rows), final)
    passed = (final >= PASS_CUTOFF) & ~dropout
    return {
        "is_passed": passed.astype(np.int64),
        "is_dropout": dropout.astype(np.int64),
        "final_grade": np.round(final, 2),
    }


def _exact_mask(rng: np.random.Generator, rows: int, share: float) -> np.ndarray:
    """Exactly round(rows * share) rows chosen at random, so counts are predictable."""
    mask = np.zeros(rows, dtype=bool)
    mask[rng.choice(rows, size=int(round(rows * share)), replace=False)] = True
    return mask


def _nullable_int(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable integer column (pandas Int64), so 0/1 flags stay integers next to NULLs."""
    return pd.arrays.IntegerArray(np.where(missing, 0, values).astype(np.int64), missing.copy())


def _as_datetimes(seconds: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    stamps = _YEAR_START + seconds.astype("timedelta64[s]")
    if missing is not None:
        stamps = np.where(missing, np.datetime64("NaT", "s"), stamps)
    return stamps


def _extra_values(name: str, seed: int, course_index: np.ndarray) -> np.ndarray:
    """A deterministic value per row for an unknown extra column, about 10% NULL.

    Seeded by (seed, column name) so extras never disturb the legacy columns or each other.
    Names that read as measures get numbers; anything else gets a short code string.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    rows = course_index.size
    missing = rng.random(rows) < 0.1
    if name.endswith(_NUMERIC_EXTRA_SUFFIXES):
        values = np.round(rng.uniform(0, 100, rows), 2)
        return np.where(missing, np.nan, values)
    if name == "legacy_cohort":
        codes = np.array([f"K{2022 + year}{group}" for year in range(4) for group in "AB"])
        values = codes[(course_index * 2 + rng.integers(0, 4, rows)) % codes.size].astype(object)
    else:
        values = np.char.add(f"{name[:40]}-", rng.integers(1, 50, rows).astype(str))
        values = values.astype(object)
    values[missing] = None
    return values


def generate_raw_data(spec: LegacyDataSpec | None = None) -> pd.DataFrame:
    """The v1 `raw_data` rows for `spec`, columns in legacy order minus drops plus extras."""
    spec = spec or LegacyDataSpec()
    rng = np.random.default_rng(spec.seed)
    course_ids = spec.resolved_course_ids()
    duplicates = int(round(spec.rows * spec.duplicate_share))
    base_rows = spec.rows - duplicates

    course, student, pool = _assign_enrolments(rng, base_rows, len(course_ids))
    people = _students(rng, pool)
    original = np.concatenate(
        [np.arange(base_rows), rng.choice(base_rows, size=duplicates, replace=False)]
    )
    is_duplicate = np.arange(spec.rows) >= base_rows
    course = course[original]
    student = student[original]

    start_days = np.array([_course_start_day(cid, i) for i, cid in enumerate(course_ids)])
    difficulty = rng.normal(0.0, 0.3, size=len(course_ids))
    h5p_contents = rng.integers(8, 25, size=len(course_ids))
    created, updated, progress = _timestamps(rng, start_days[course], is_duplicate, original)
    enrolment_noise = rng.normal(0.0, 0.6, size=base_rows)[original]
    latent = 0.8 * people["engagement"][student] - difficulty[course] + enrolment_noise
    features = _features(rng, latent, progress, h5p_contents[course])
    labels = _labels(rng, latent)

    scored = _exact_mask(rng, spec.rows, spec.scored_share)
    risk = 100 * _sigmoid(-1.7 * latent - 0.8 + rng.normal(0, 0.6, spec.rows))
    risk = np.where(scored, np.round(risk, 2), np.nan)
    predicted = np.maximum(updated - rng.integers(0, 6 * _HOUR, spec.rows), created)
    unlabelled = _exact_mask(rng, spec.rows, spec.unlabelled_share)
    no_semester = rng.random(spec.rows) < spec.semester_null_share
    null_draws = rng.random((len(FEATURE_COLUMNS), spec.rows)) < spec.feature_null_share
    nulls = dict(zip(FEATURE_COLUMNS, null_draws, strict=True))
    shuffle = rng.permutation(spec.rows)

    grade = np.where(nulls["mooc_grade_percentage"], np.nan, features["mooc_grade_percentage"])
    grade_missing = np.isnan(grade)
    semesters = np.array([default_semester(cid) for cid in course_ids], dtype=object)[course]
    semesters[no_semester] = None
    columns: dict[str, object] = {
        "user_id": people["user_id"][student],
        "course_id": np.array(course_ids, dtype=object)[course],
        "username": people["username"][student],
        "full_name": people["full_name"][student],
        "email": people["email"][student],
        "mooc_grade_percentage": grade,
        "mooc_completion_rate": _with_nulls(features, nulls, "mooc_completion_rate"),
        "mooc_is_passed": _nullable_int(
            (np.nan_to_num(grade) >= PASS_CUTOFF).astype(np.int64),
            grade_missing | nulls["mooc_is_passed"],
        ),
        "mooc_letter_grade": np.where(nulls["mooc_letter_grade"], None, letter_grades(grade)),
        "h5p_total_score": _with_nulls(features, nulls, "h5p_total_score"),
        "h5p_max_score": _with_nulls(features, nulls, "h5p_max_score"),
        "h5p_completion_rate": _with_nulls(features, nulls, "h5p_completion_rate"),
        "h5p_time_spent_minutes": _with_nulls(features, nulls, "h5p_time_spent_minutes"),
        "h5p_contents_attempted": _nullable_int(
            features["h5p_contents_attempted"], nulls["h5p_contents_attempted"]
        ),
        "days_since_last_activity": _nullable_int(
            features["days_since_last_activity"], nulls["days_since_last_activity"]
        ),
        "fail_risk_score": risk,
        "risk_level": risk_levels(risk),
        "predicted_at": _as_datetimes(predicted, ~scored),
        "is_passed": _nullable_int(labels["is_passed"], unlabelled),
        "is_dropout": _nullable_int(labels["is_dropout"], unlabelled),
        "final_grade": np.where(unlabelled, np.nan, labels["final_grade"]),
        "semester": semesters,
        "created_at": _as_datetimes(created),
        "updated_at": _as_datetimes(updated),
    }
    for name in spec.extra_columns:
        columns[name] = _extra_values(name, spec.seed, course)
    return _assemble(spec, columns, shuffle)


def _with_nulls(
    features: dict[str, np.ndarray], nulls: dict[str, np.ndarray], name: str
) -> np.ndarray:
    return np.where(nulls[name], np.nan, features[name])


def _assemble(
    spec: LegacyDataSpec, columns: dict[str, object], shuffle: np.ndarray
) -> pd.DataFrame:
    """Shuffle rows (ids do not follow updated_at, as in a real table) and order columns."""
    wanted = [name for name in spec.columns() if name != "id"]
    data: dict[str, object] = {"id": np.arange(1, spec.rows + 1, dtype=np.int64)}
    for name in wanted:
        values = columns[name]
        data[name] = values[shuffle]
    frame = pd.DataFrame(data)
    return frame[list(spec.columns())]


def summarize(frame: pd.DataFrame) -> LegacyDataSummary:
    """Rows, courses, duplicated (user_id, course_id) keys and unlabelled rows of a table."""
    keys = frame[["user_id", "course_id"]] if {"user_id", "course_id"} <= set(frame) else None
    duplicated = 0 if keys is None else int(keys[keys.duplicated()].drop_duplicates().shape[0])
    courses = int(frame["course_id"].nunique()) if "course_id" in frame else 0
    present = [name for name in LABEL_COLUMNS if name in frame]
    unlabelled = int(frame[present].isna().all(axis=1).sum()) if present else len(frame)
    return LegacyDataSummary(len(frame), courses, duplicated, unlabelled)


# --------------------------------------------------------------------------------------------
# Writing


def _extra_column_type(series: pd.Series) -> sa.types.TypeEngine:
    """DOUBLE for numbers, BIGINT for integers, VARCHAR(64+) for anything else."""
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_integer_dtype(series):
        return sa.BigInteger()
    if pd.api.types.is_float_dtype(series):
        return sa.Double()
    if pd.api.types.is_datetime64_any_dtype(series):
        return sa.DateTime()
    longest = series.dropna().astype(str).str.len().max() if series.notna().any() else 0
    return sa.String(max(64, int(longest)))


def legacy_table_for(frame: pd.DataFrame, table_name: str = LEGACY_TABLE_NAME) -> sa.Table:
    """`raw_data_v1` drifted to the frame: its columns in frame order, extras typed by dtype."""
    metadata = sa.MetaData()
    columns = []
    for name in frame.columns:
        if name in raw_data_v1.c:
            columns.append(raw_data_v1.c[name]._copy())
        else:
            columns.append(sa.Column(name, _extra_column_type(frame[name])))
    return sa.Table(table_name, metadata, *columns, **MYSQL_TABLE_OPTIONS)


def write_raw_data(
    engine: sa.Engine,
    frame: pd.DataFrame,
    table_name: str = LEGACY_TABLE_NAME,
    chunk_rows: int = 50_000,
) -> int:
    """Replace `table_name` with the frame's rows; returns the number of rows written.

    Drop-and-recreate (not append) so a demo or benchmark always starts from exactly the
    generated table. Rows go in chunks through the driver's `executemany` inside one
    transaction: pymysql rewrites an executemany INSERT into multi-row INSERT statements, and
    SQLite commits once, which is what makes a million rows take seconds rather than minutes.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    table = legacy_table_for(frame, table_name)
    written = 0
    with engine.begin() as connection:  # SQLite: all or nothing; MySQL commits DDL anyway.
        table.drop(connection, checkfirst=True)
        table.create(connection)
        for start in range(0, len(frame), chunk_rows):
            sql, params = insert_frame_params(
                connection.dialect, table, frame.iloc[start : start + chunk_rows]
            )
            connection.exec_driver_sql(sql, params)
            written += len(params)
    return written


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = LegacyDataSpec()
    parser = argparse.ArgumentParser(
        prog="python -m dropout_pipelines.simulator.legacy_data",
        description="Write a realistic legacy v1 raw_data table (SPEC §4).",
    )
    parser.add_argument("--db-url", help="SQLAlchemy URL; default DROPOUT_DB_URL or the demo DB")
    parser.add_argument("--table", default=LEGACY_TABLE_NAME, help="table name (replaced)")
    parser.add_argument("--rows", type=int, default=defaults.rows)
    parser.add_argument("--courses", type=int, default=defaults.courses)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--course-id",
        action="append",
        dest="course_ids",
        metavar="ID",
        help="explicit course id (repeatable); overrides --courses",
    )
    parser.add_argument("--drop-column", action="append", default=[], metavar="C")
    parser.add_argument(
        "--extra-column",
        action="append",
        metavar="C",
        help=f"extra column (repeatable); default {defaults.extra_columns}",
    )
    parser.add_argument("--no-extra-columns", action="store_true", help="no extra columns")
    parser.add_argument("--duplicate-share", type=float, default=defaults.duplicate_share)
    parser.add_argument("--unlabelled-share", type=float, default=defaults.unlabelled_share)
    parser.add_argument("--scored-share", type=float, default=defaults.scored_share)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    return parser.parse_args(argv)


def _spec_from_args(args: argparse.Namespace) -> LegacyDataSpec:
    defaults = LegacyDataSpec()
    extras = () if args.no_extra_columns else args.extra_column
    return LegacyDataSpec(
        rows=args.rows,
        courses=args.courses,
        seed=args.seed,
        unlabelled_share=args.unlabelled_share,
        duplicate_share=args.duplicate_share,
        drop_columns=tuple(args.drop_column),
        extra_columns=defaults.extra_columns if extras is None else tuple(extras),
        course_ids=tuple(args.course_ids) if args.course_ids else None,
        scored_share=args.scored_share,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, write, and print one summary line (the password in the URL masked)."""
    args = _parse_args(argv)
    db_url = args.db_url or db_url_from_env()
    try:
        spec = _spec_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    frame = generate_raw_data(spec)
    engine = create_warehouse_engine(db_url)
    try:
        written = write_raw_data(engine, frame, args.table, args.chunk_rows)
    finally:
        engine.dispose()
    summary = summarize(frame)
    print(
        f"{args.table}: {written} rows over {summary.courses} courses "
        f"({summary.duplicated_keys} duplicated keys, {summary.unlabelled} unlabelled) "
        f"-> {mask_url(db_url)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
