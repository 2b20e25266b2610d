"""How much slower is the predictions step than scoring and writing bare? (`make bench-predict`)

The `predictions` asset calls `predict_course` once per course: resolve its model, read the
course's `student_features`, score every student and explain each score (SHAP reasons), then
in one transaction retire the previous latest rows and append the new ones. Its goal is to
cost at most 1.5× the *floor*: the model's own work, CatBoost's `predict_proba` and
SHAP values on the same feature matrix, plus one bulk INSERT of the very rows the step
stores (the same columns and values, reasons text included, made before the clock starts)
into an empty twin of `predictions` with its primary key, constraints, computed column and
indexes: what the database needs to store the rows once where they must be stored. Reading
the features, ranking the SHAP values into reasons and building the rows are deliberately
not in the floor: they are overhead the step must keep within the budget. A
wall-clock number on its own depends on the machine; the ratio to the floor, measured in the
same run on the same data and database, stays comparable between machines.

For each backend the benchmark creates a fresh database with the V2 schema, loads one
course of generated students into `student_features`, registers a real CatBoost model
(`fit_fail_model` on generated labelled rows, `LEGACY_MODEL_FEATURES`, saved in a temporary
`LocalModelStore`) as the default, and then times, in this order:

1. the floor (predict_proba, SHAP and the INSERT timed together, each part split out);
2. `predict_course` on an empty history (run 1), then again (run 2), when it also retires
   the previous latest row of every student, as every scheduled run after the first does;
   each run starts with a cold model cache, like a Dagster step in a fresh process;
3. a naive first version, one student at a time (read its row, score and explain it,
   retire its latest row, insert one row, commit), timed on a sample and scaled linearly;
4. the floor again: the faster of the two floors is the one ratios use, so a burst of
   load from other processes during one of them can only make the goal harder to meet.

Nothing is cached between runs of the benchmark: every number printed comes from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from benchmarks.harness import (
    Database,
    indexed_copy,
    private_mariadb_database,
    rate,
    settle,
    sqlite_database,
)
from benchmarks.report import (
    backend_list,
    machine_note,
    positive,
    progress_printer,
    render_sections,
    timed,
)
from dropout_pipelines.predict import service
from dropout_pipelines.predict.model_store import (
    LoadedModel,
    LocalModelStore,
    StoredModel,
    clear_model_cache,
    load_model_file,
)
from dropout_pipelines.predict.registry import register_model
from dropout_pipelines.predict.scoring import (
    fail_risk_scores,
    feature_matrix,
    shap_values,
    top_reasons,
)
from dropout_pipelines.predict.writes import PREDICTION_COLUMNS
from dropout_pipelines.training.fit import LEGACY_MODEL_FEATURES, fit_fail_model
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.bulk import frame_records, insert_frame_params
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine
from dropout_pipelines.warehouse.risk_levels import risk_level, risk_levels
from dropout_pipelines.warehouse.urls import mask_url

BACKENDS: tuple[str, ...] = ("sqlite", "mariadb")
DEFAULT_STUDENTS = 100_000
TRAINING_ROWS = 5_000
NAIVE_SAMPLE = 2_000
GOAL_RATIO = 1.5
SEED = 11
COURSE_ID = "course-v1:DHQG-HCM+FM101+2026_S2"
COURSE_WEEKS = 15
CURRENT_WEEK = 9
H5P_CONTENTS = 24
NOW = datetime(2026, 11, 29, 9, 0, 0)
MODEL_NAME = "bench_fail"
MODEL_VERSION = "1"
FLOOR_TABLE = "predictions_floor_copy"
LOAD_CHUNK_ROWS = 10_000
# What score_and_save inserts: the frame's columns plus the four it adds.
FLOOR_COLUMNS: tuple[str, ...] = (
    *PREDICTION_COLUMNS,
    "course_id",
    "is_latest",
    "run_id",
    "predicted_at",
)

FLOOR_TOTAL = "floor: predict_proba + SHAP + bulk INSERT"
FLOOR_PROBA = "floor: predict_proba"
FLOOR_SHAP = "floor: SHAP values"
FLOOR_INSERT = "floor: bulk INSERT (indexed twin)"
RUN_LABELS: tuple[str, str] = (
    "predictions step, run 1 (empty history)",
    "predictions step, run 2 (retires {students} latest)",
)

TABLE_COLUMNS: tuple[str, ...] = ("backend", "step", "seconds", "rows/s", "×floor", "goal", "met")
PHASE_COLUMNS: tuple[str, ...] = (
    "backend",
    "run",
    "phase",
    "seconds",
    "% of step",
    "×floor",
    "in cursor.execute s",
)
# Statements that took less than this in a run are summed into one line of the report.
MINOR_STATEMENT_S = 0.005

# predict_course's callees, looked up as module globals of `service` at call time: wrapping
# them splits the step's own run into phases without a second, differently-timed run.
# (`CourseScores.timings` exists but predict_course does not fill it.)
PHASES: tuple[tuple[str, str], ...] = (
    ("resolve_model_for_course", "resolve model"),
    ("columns_to_read", "load model, pick columns"),
    ("read_features", "read student_features"),
    ("score_features", "score (predict_proba, SHAP, reasons, frame)"),
    ("score_and_save", "save (lock, retire while scoring, insert, commit)"),
)
OTHER_PHASE = "other"
SAVE_PHASE = PHASES[-1][1]


# --------------------------------------------------------------------------------------------
# Data


_progress = progress_printer("bench-predict")
_timed = partial(timed, _progress)
_backends = backend_list(BACKENDS)
_positive = positive


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _engagement(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A latent engagement per student and the features it drives, at week 9 of 15.

    The same shape as the legacy generator's features (grades 0-100, rates 0-1, H5P counts
    out of the course's contents, days of silence up to 180), with the NULLs real rows have:
    no grade yet for about 2 % of students, no H5P score rate without an attempt.
    """
    latent = rng.normal(0.0, 1.0, rows)
    progress = np.clip(rng.normal(CURRENT_WEEK / COURSE_WEEKS, 0.05, rows), 0.05, 1.0)
    completion = _sigmoid(1.6 * latent + 0.9 + rng.normal(0, 0.5, rows)) * progress
    quality = _sigmoid(1.1 * latent + 1.0 + rng.normal(0, 0.45, rows))
    grade = np.clip(100.0 * quality * (0.45 + 0.55 * completion) * progress, 0.0, 100.0)
    grade[rng.random(rows) < 0.02] = np.nan
    attempted = rng.binomial(H5P_CONTENTS, np.clip(_sigmoid(1.4 * latent + 0.8) * progress, 0, 1))
    score_rate = _sigmoid(1.0 * latent + 0.9 + rng.normal(0, 0.5, rows))
    max_score = attempted * 10.0
    total_score = np.round(max_score * score_rate, 1)
    minutes = attempted * rng.gamma(2.0, 3.5, rows) * (1.2 - 0.3 * score_rate)
    silence = rng.exponential(2.0 + 25.0 * _sigmoid(-1.5 * latent), rows)
    features = {
        "mooc_grade_percentage": np.round(grade, 2),
        "mooc_completion_rate": np.round(completion, 4),
        "h5p_total_score": total_score,
        "h5p_max_score": max_score,
        "h5p_score_rate": np.where(
            max_score > 0, np.round(total_score / np.maximum(max_score, 1), 4), np.nan
        ),
        "h5p_contents_attempted": attempted.astype(np.int64),
        "h5p_completion_rate": np.round(attempted / H5P_CONTENTS, 4),
        "h5p_time_spent_minutes": np.round(minutes, 1),
        "days_since_last_activity": np.minimum(silence, 180).astype(np.int64),
    }
    return latent, features


def generate_student_features(students: int, seed: int = SEED) -> pd.DataFrame:
    """One course's `student_features` rows, vectorised (100,000 students in well under 1 s)."""
    rng = np.random.default_rng(seed)
    _, features = _engagement(rng, students)
    frame = pd.DataFrame({"user_id": np.arange(1, students + 1, dtype=np.int64)})
    frame["course_id"] = COURSE_ID
    for name, values in features.items():
        frame[name] = values
    frame["mooc_is_passed"] = None  # a running course has no final outcome yet
    frame["mooc_letter_grade"] = None
    frame["days_enrolled"] = rng.integers(CURRENT_WEEK * 7 - 6, CURRENT_WEEK * 7 + 30, students)
    frame["week_of_course"] = CURRENT_WEEK
    frame["extra_features"] = None
    frame["created_at"] = NOW
    frame["updated_at"] = NOW
    return frame


def generate_training_rows(rows: int = TRAINING_ROWS, seed: int = SEED + 1) -> pd.DataFrame:
    """Labelled rows from the same engagement model: pass depends on it, plus noise."""
    rng = np.random.default_rng(seed)
    latent, features = _engagement(rng, rows)
    frame = pd.DataFrame(features)
    passed = rng.random(rows) < _sigmoid(1.8 * latent + 0.6 + rng.normal(0, 0.6, rows))
    frame["is_passed"] = passed
    return frame


def train_model(store: LocalModelStore, rows: int = TRAINING_ROWS) -> StoredModel:
    """A real CatBoost fail model, saved in `store` (what the registry row points at)."""
    training = generate_training_rows(rows)
    model = fit_fail_model(training, LEGACY_MODEL_FEATURES)
    return store.save(
        MODEL_NAME,
        MODEL_VERSION,
        model,
        list(LEGACY_MODEL_FEATURES),
        {"training_rows": rows, "purpose": "bench-predict"},
    )


# --------------------------------------------------------------------------------------------
# Databases


def _database(backend: str) -> AbstractContextManager[Database]:
    if backend == "sqlite":
        return sqlite_database("dropout-bench-predict-")
    return private_mariadb_database(_progress, "bench_predict")


def load_student_features(engine: sa.Engine, frame: pd.DataFrame) -> None:
    """The generated rows into `student_features`, in one transaction (set-up, not timed)."""
    records = frame_records(frame)
    with engine.begin() as connection:
        for start in range(0, len(records), LOAD_CHUNK_ROWS):
            chunk = records[start : start + LOAD_CHUNK_ROWS]
            connection.execute(sa.insert(s.student_features), chunk)


# --------------------------------------------------------------------------------------------
# The floor


@dataclass(frozen=True)
class FloorTiming:
    """One floor measurement: predict_proba, SHAP and the INSERT back to back, split."""

    proba_s: float
    shap_s: float
    insert_s: float

    @property
    def total_s(self) -> float:
        return self.proba_s + self.shap_s + self.insert_s


def floor_table() -> sa.Table:
    """An empty twin of `predictions`: its keys, constraints and indexes, nothing in it."""
    return indexed_copy(s.predictions, FLOOR_TABLE)


def measure_floor(
    engine: sa.Engine,
    model: LoadedModel,
    matrix: pd.DataFrame,
    features: pd.DataFrame,
    reasons: list[str],
) -> FloorTiming:
    """predict_proba and SHAP values on `matrix`, then one committed executemany INSERT of
    the rows the step stores (`reasons`: its reasons text, made before the clock starts).

    The INSERT's time includes building its parameters from the scores (nothing can store
    rows without that), through the pure scoring rules the step uses too.
    """
    table = floor_table()
    table.drop(engine, checkfirst=True)
    table.create(engine)
    settle(engine)
    try:
        started = time.perf_counter()
        probabilities = model.model.predict_proba(matrix)[:, 1]
        scored = time.perf_counter()
        shap_values(model.model, matrix)
        explained = time.perf_counter()
        scores = fail_risk_scores(probabilities)
        rows = pd.DataFrame(
            {
                "user_id": features["user_id"].to_numpy(),
                "fail_risk_score": scores,
                "risk_level": risk_levels(scores),
                "snapshot_grade": features["mooc_grade_percentage"].to_numpy("float64"),
                "snapshot_completion_rate": features["mooc_completion_rate"].to_numpy("float64"),
                "snapshot_week": features["week_of_course"].to_numpy(),
                "reasons": reasons,
            }
        )
        constants = {
            "model_name": MODEL_NAME,
            "model_version": MODEL_VERSION,
            "purpose": "serving",
            "ab_arm": None,
            "course_id": COURSE_ID,
            "is_latest": True,
            "run_id": "floor",
            "predicted_at": NOW,
        }
        # The same column-wise parameter building as the predictions step's own INSERT.
        sql, params = insert_frame_params(
            engine.dialect, table, rows, constants, encoded={"reasons"}
        )
        with engine.begin() as connection:
            connection.exec_driver_sql(sql, params)
        finished = time.perf_counter()
        with engine.connect() as connection:
            written = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if written != len(matrix):
            raise RuntimeError(f"the floor wrote {written} rows, expected {len(matrix)}")
        return FloorTiming(scored - started, explained - scored, finished - explained)
    finally:
        table.drop(engine)
        settle(engine)


# --------------------------------------------------------------------------------------------
# The predictions step


_STATEMENT_TABLE = re.compile(r"\b(?:INTO|UPDATE|FROM)\s+[`\"]?(\w+)", re.IGNORECASE)


def statement_label(sql: str) -> str:
    """`UPDATE predictions`, `INSERT student_features`…: the verb and the first table."""
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    match = _STATEMENT_TABLE.search(sql)
    return f"{verb} {match.group(1)}" if match else verb


@dataclass
class StepTiming:
    """One `predict_course` call: total seconds, per phase, and inside the DB-API per phase."""

    label: str
    seconds: float
    saved: int
    phases: dict[str, float] = field(default_factory=dict)
    db_api: dict[str, float] = field(default_factory=dict)
    statements: dict[str, tuple[int, float]] = field(default_factory=dict)


@contextmanager
def _phase_split(engine: sa.Engine, timing: StepTiming) -> Iterator[None]:
    """Time predict_course's callees and the DB-API calls made during each of them.

    The callees are wrapped as module attributes of `service` for the duration of the
    block (predict_course looks them up at call time); DB-API time comes from the engine's
    cursor-execute events, so SQLAlchemy's own per-row work shows up as the difference.
    """
    # The phases under way, innermost last, each with the seconds its nested phases took:
    # scoring runs inside score_and_save, and a phase's own time leaves them out.
    stack: list[list[Any]] = [[OTHER_PHASE, 0.0]]
    statements: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    originals = {name: getattr(service, name) for name, _ in PHASES}

    def wrap(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            stack.append([label, 0.0])
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - started
                _, nested_s = stack.pop()
                timing.phases[label] = timing.phases.get(label, 0.0) + spent - nested_s
                stack[-1][1] += spent

        return timed

    # Event arguments: (connection, cursor, statement, parameters, context, executemany).
    # A statement counts for the phase under way, except one sent from another thread: the
    # retire, which score_and_save runs beside the scoring.
    step_thread = threading.current_thread()

    def before(conn: sa.Connection, *_: Any) -> None:
        label = stack[-1][0] if threading.current_thread() is step_thread else SAVE_PHASE
        sent = (time.perf_counter(), label)
        conn.info.setdefault("bench_predict_started", []).append(sent)

    def after(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
        started, label = conn.info["bench_predict_started"].pop()
        spent = time.perf_counter() - started
        timing.db_api[label] = timing.db_api.get(label, 0.0) + spent
        entry = statements[statement_label(statement)]
        entry[0] += 1
        entry[1] += spent

    for name, label in PHASES:
        setattr(service, name, wrap(originals[name], label))
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        for name, function in originals.items():
            setattr(service, name, function)
        timing.statements = {key: (int(n), t) for key, (n, t) in statements.items()}


def measure_step(engine: sa.Engine, label: str, run_id: str) -> StepTiming:
    """`predict_course` end to end on the whole course, from a cold model cache."""
    clear_model_cache()
    settle(engine)
    timing = StepTiming(label, 0.0, 0)
    with _phase_split(engine, timing):
        started = time.perf_counter()
        scores = service.predict_course(engine, COURSE_ID, run_id, NOW)
        timing.seconds = time.perf_counter() - started
    timing.saved = scores.saved
    known = sum(timing.phases.values())
    timing.phases[OTHER_PHASE] = max(timing.seconds - known, 0.0)
    return timing


# --------------------------------------------------------------------------------------------
# The naive first version


@dataclass(frozen=True)
class NaiveTiming:
    sample: int
    seconds: float
    students: int

    @property
    def scale(self) -> float:
        return self.students / self.sample

    @property
    def estimate_s(self) -> float:
        return self.seconds * self.scale


def naive_sample(user_ids: np.ndarray, size: int) -> np.ndarray:
    """`size` students spread evenly over the course (not the first ones: index locality)."""
    if size >= len(user_ids):
        return user_ids
    return user_ids[np.linspace(0, len(user_ids) - 1, size).round().astype(np.int64)]


def measure_naive(
    engine: sa.Engine, model: LoadedModel, user_ids: np.ndarray, students: int
) -> NaiveTiming:
    """Per student, its own transaction: read its row, score it, retire its latest, insert.

    What a first version written one student at a time does; it runs after the two
    predict_course runs, so every student has a latest row to retire, as in run 2.
    """
    features_table, predictions = s.student_features, s.predictions
    settle(engine)
    started = time.perf_counter()
    for user_id in user_ids.tolist():
        with engine.begin() as connection:
            row = (
                connection.execute(
                    sa.select(features_table).where(
                        features_table.c.course_id == COURSE_ID,
                        features_table.c.user_id == user_id,
                    )
                )
                .mappings()
                .one()
            )
            matrix = feature_matrix(pd.DataFrame([dict(row)]), model.features)
            score = float(fail_risk_scores(model.model.predict_proba(matrix)[:, 1])[0])
            (reasons,) = top_reasons(model.model, matrix)
            connection.execute(
                sa.update(predictions)
                .where(
                    predictions.c.course_id == COURSE_ID,
                    predictions.c.user_id == user_id,
                    predictions.c.latest_serving_slot == 1,
                )
                .values(is_latest=False)
            )
            connection.execute(
                sa.insert(predictions).values(
                    user_id=user_id,
                    course_id=COURSE_ID,
                    model_name=MODEL_NAME,
                    model_version=MODEL_VERSION,
                    fail_risk_score=score,
                    risk_level=risk_level(score),
                    is_latest=True,
                    purpose="serving",
                    ab_arm=None,
                    snapshot_grade=row["mooc_grade_percentage"],
                    snapshot_completion_rate=row["mooc_completion_rate"],
                    snapshot_week=row["week_of_course"],
                    reasons=json.loads(reasons),
                    run_id="naive",
                    predicted_at=NOW,
                )
            )
    return NaiveTiming(len(user_ids), time.perf_counter() - started, students)


# --------------------------------------------------------------------------------------------
# One backend


@dataclass
class BackendResult:
    """One backend's numbers, all from the same run on the same students and model."""

    backend: str
    students: int
    floors: list[FloorTiming]
    runs: list[StepTiming]
    naive: NaiveTiming

    @property
    def floor(self) -> FloorTiming:
        """The faster floor: the conservative one to compare against."""
        return min(self.floors, key=lambda floor: floor.total_s)

    def ratio(self, seconds: float) -> float:
        return seconds / self.floor.total_s if self.floor.total_s > 0 else float("inf")

    def met(self, run: StepTiming) -> bool:
        return self.ratio(run.seconds) <= GOAL_RATIO


def _check_latest(engine: sa.Engine, students: int) -> None:
    """Each student has exactly one latest serving row: the runs did what they claim."""
    p = s.predictions
    with engine.connect() as connection:
        latest = connection.execute(
            sa.select(sa.func.count())
            .select_from(p)
            .where(p.c.course_id == COURSE_ID, p.c.latest_serving_slot == 1)
        ).scalar_one()
    if latest != students:
        raise RuntimeError(f"{latest} latest serving rows for {students} students")


def run_backend(
    backend: str,
    features: pd.DataFrame,
    stored: StoredModel,
    naive_size: int = NAIVE_SAMPLE,
) -> BackendResult:
    """Fresh database, features and model registered, then floor, two runs, naive, floor."""
    students = len(features)
    with _database(backend) as database:
        url = database.url
        _progress(f"{backend}: database {mask_url(url)}")
        engine = create_warehouse_engine(url)
        try:
            with _timed(f"{backend}: schema, {students:,} student_features rows, model"):
                create_schema(engine)
                load_student_features(engine, features)
                register_model(
                    engine, MODEL_NAME, MODEL_VERSION, stored.model_path, make_default=True
                )
            model = load_model_file(stored.model_path, stored.features_csv_path)
            matrix = feature_matrix(features, model.features)
            reasons = top_reasons(model.model, matrix)
            floors = []
            with _timed(f"{backend}: floor"):
                floors.append(measure_floor(engine, model, matrix, features, reasons))
            runs = []
            for number, label in enumerate(RUN_LABELS, start=1):
                label = label.format(students=f"{students:,}")
                with _timed(f"{backend}: {label}"):
                    runs.append(measure_step(engine, label, f"bench-run-{number}"))
                _check_latest(engine, students)
            sample = naive_sample(features["user_id"].to_numpy(), naive_size)
            with _timed(f"{backend}: naive, {len(sample):,} students one at a time"):
                naive = measure_naive(engine, model, sample, students)
            _check_latest(engine, students)
            with _timed(f"{backend}: floor again"):
                floors.append(measure_floor(engine, model, matrix, features, reasons))
        finally:
            engine.dispose()
    result = BackendResult(backend, students, floors, runs, naive)
    for run in runs:
        _progress(f"{backend}: {run.label}: {result.ratio(run.seconds):.2f}× the floor")
    return result


# --------------------------------------------------------------------------------------------
# Report


def naive_label(naive: NaiveTiming) -> str:
    """Says whether the naive row is measured or scaled from a sample (and by how much)."""
    if naive.sample >= naive.students:
        return f"naive per student (all {naive.sample:,} timed)"
    return f"naive per student (est.: {naive.sample:,} timed ×{naive.scale:g})"


def summary_rows(results: Sequence[BackendResult]) -> list[list[str]]:
    """Floor (whole and parts), both runs against the goal, the naive estimate."""
    rows = []
    for r in results:
        floor = r.floor
        n = r.students
        for label, seconds in (
            (FLOOR_TOTAL, floor.total_s),
            (FLOOR_PROBA, floor.proba_s),
            (FLOOR_SHAP, floor.shap_s),
            (FLOOR_INSERT, floor.insert_s),
        ):
            ratio = f"{r.ratio(seconds):.2f}×"
            rows.append([r.backend, label, f"{seconds:.3f}", rate(n, seconds), ratio, "-", "-"])
        for run in r.runs:
            rows.append(
                [
                    r.backend,
                    run.label,
                    f"{run.seconds:.3f}",
                    rate(run.saved, run.seconds),
                    f"{r.ratio(run.seconds):.2f}×",
                    f"≤ {GOAL_RATIO:.1f}×",
                    "met" if r.met(run) else "not met",
                ]
            )
        naive = r.naive
        rows.append(
            [
                r.backend,
                naive_label(naive),
                f"{naive.estimate_s:.3f}",
                rate(n, naive.estimate_s),
                f"{r.ratio(naive.estimate_s):.2f}×",
                "-",
                "-",
            ]
        )
    return rows


def phase_rows(results: Sequence[BackendResult]) -> list[list[str]]:
    """Where each run's time goes, against the floor and inside the DB-API calls."""
    rows = []
    for r in results:
        for number, run in enumerate(r.runs, start=1):
            for label in [label for _, label in PHASES] + [OTHER_PHASE]:
                seconds = run.phases.get(label, 0.0)
                rows.append(
                    [
                        r.backend,
                        str(number),
                        label,
                        f"{seconds:.3f}",
                        f"{100 * seconds / run.seconds:.0f}%" if run.seconds > 0 else "-",
                        f"{r.ratio(seconds):.2f}",
                        f"{run.db_api.get(label, 0.0):.3f}",
                    ]
                )
    return rows


def statement_rows(results: Sequence[BackendResult]) -> tuple[list[str], list[list[str]]]:
    """Seconds inside cursor.execute/executemany per statement kind, per run.

    The registry look-ups and the course lock take milliseconds: they are summed into one
    line so the statements that matter stand out.
    """
    header = ["backend", "run", "statement", "calls", "seconds"]
    rows = []
    for r in results:
        for number, run in enumerate(r.runs, start=1):
            ordered = sorted(run.statements.items(), key=lambda item: -item[1][1])
            minor_calls, minor_s = 0, 0.0
            for name, (calls, seconds) in ordered:
                if seconds < MINOR_STATEMENT_S:
                    minor_calls, minor_s = minor_calls + calls, minor_s + seconds
                    continue
                rows.append([r.backend, str(number), name, f"{calls:,}", f"{seconds:.3f}"])
            if minor_calls:
                rows.append(
                    [
                        r.backend,
                        str(number),
                        "other statements",
                        f"{minor_calls:,}",
                        f"{minor_s:.3f}",
                    ]
                )
    return header, rows


def floor_rows(results: Sequence[BackendResult]) -> tuple[list[str], list[list[str]]]:
    """Both floor measurements, so their spread (the machine's noise) is visible."""
    header = ["backend", "floor", "predict_proba s", "SHAP s", "INSERT s", "total s", "used"]
    rows = []
    for r in results:
        for index, floor in enumerate(r.floors, start=1):
            when = "before the runs" if index == 1 else "after the naive run"
            rows.append(
                [
                    r.backend,
                    f"{index} ({when})",
                    f"{floor.proba_s:.3f}",
                    f"{floor.shap_s:.3f}",
                    f"{floor.insert_s:.3f}",
                    f"{floor.total_s:.3f}",
                    "yes" if floor is r.floor else "",
                ]
            )
    return header, rows


def notes(results: Sequence[BackendResult]) -> list[str]:
    naive = results[0].naive if results else None
    lines = [
        "- Floor: CatBoost's predict_proba and SHAP values on the course's feature matrix + "
        "one committed executemany INSERT of the rows the step stores (the "
        f"{len(FLOOR_COLUMNS)} columns score_and_save writes, reasons text included, made "
        "before the clock starts) into an empty twin of predictions with its primary key, "
        "CHECKs, computed column and indexes; the faster of two floors (before the runs, "
        "after the naive run) is used.",
        "- Predictions step: predict_course end to end (resolve the model, load it from a "
        "cold cache, read the columns it takes, score, rank SHAP values into reasons, save "
        "in one transaction); run 2 also retires every student's previous latest row.",
    ]
    if naive is not None:
        scaled = (
            f"timed on {naive.sample:,} students spread over the course and scaled "
            f"×{naive.scale:g} to {naive.students:,}: an estimate, not a measurement of "
            f"{naive.students:,}"
            if naive.sample < naive.students
            else f"timed on all {naive.students:,} students"
        )
        lines.append(
            "- Naive: one transaction per student (SELECT its row, predict_proba and "
            f"reasons on one row, UPDATE its latest flag, INSERT one row), {scaled}."
        )
    lines.append(
        "- 'in cursor.execute s' is the time inside the driver's execute/executemany calls "
        "(the engine's cursor events); the rest of a phase is Python. pymysql reads a "
        "SELECT's rows inside execute, sqlite3 while they are fetched afterwards, so on "
        "SQLite a read's rows count as Python. The retire runs beside the scoring and counts "
        "for save, so save's time in cursor.execute can exceed its own time."
    )
    return lines


def render_report(results: Sequence[BackendResult], note: str = "") -> str:
    """Summary, phase split, statements and floors: plain text first, then Markdown."""
    sections: list[tuple[str, list[str], list[list[str]]]] = [
        (
            "Predictions step vs floor (same run, same students, same model)",
            list(TABLE_COLUMNS),
            summary_rows(results),
        ),
        (
            "Where predict_course's time goes (its callees, timed in the same runs)",
            list(PHASE_COLUMNS),
            phase_rows(results),
        ),
        ("Time inside cursor.execute per statement", *statement_rows(results)),
        ("Floor measurements", *floor_rows(results)),
    ]
    return render_sections(sections, notes(results), note)


# --------------------------------------------------------------------------------------------
# Command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.predict",
        description=(
            "Time predict_course on one course against the floor (predict_proba + one bulk "
            "INSERT into an indexed twin of predictions) in the same run; the goal is "
            f"≤ {GOAL_RATIO:.1f}×."
        ),
    )
    parser.add_argument(
        "--students", type=_positive, default=DEFAULT_STUDENTS, help="students in the course"
    )
    parser.add_argument(
        "--backends", type=_backends, default=BACKENDS, help="comma-separated: sqlite,mariadb"
    )
    parser.add_argument(
        "--naive-sample",
        type=_positive,
        default=NAIVE_SAMPLE,
        help="students the naive version is timed on (then scaled to --students)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the report to stdout (progress goes to stderr)."""
    args = _parse_args(argv)
    load_before = os.getloadavg()[0]
    with _timed(f"generating {args.students:,} students"):
        features = generate_student_features(args.students)
    with tempfile.TemporaryDirectory(prefix="dropout-bench-models-") as folder:
        with _timed(f"training the model on {TRAINING_ROWS:,} labelled rows"):
            stored = train_model(LocalModelStore(folder))
        results = [
            run_backend(backend, features, stored, args.naive_sample) for backend in args.backends
        ]
        clear_model_cache()
    note = machine_note(load_before, os.getloadavg()[0])
    sys.stdout.write(render_report(results, note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
