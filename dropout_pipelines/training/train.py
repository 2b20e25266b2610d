"""Train a model on one semester's point-in-time rows (and earlier ones), evaluate it on
held-out students, register it, record its lineage and, when asked, promote it.

The promotion gate compares the new model with the one serving today on the same held-out
rows: a model only becomes the default when it is at least as good there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dropout_pipelines.clock import utc_now
from dropout_pipelines.features.engineering import week_of_course
from dropout_pipelines.predict.model_store import ModelStore
from dropout_pipelines.predict.registry import register_model, set_default
from dropout_pipelines.predict.scoring import feature_matrix
from dropout_pipelines.predict.selection import NoModelError, resolve_default_model
from dropout_pipelines.training.evaluate import (
    BASELINES,
    auc,
    auc_by_week,
    classification_metrics,
    early_weeks,
    mean_auc,
    split_by_student,
)
from dropout_pipelines.training.fit import fit_fail_model
from dropout_pipelines.warehouse import schema as s

# Every numeric feature the pipeline computes (text/boolean grade labels stay out).
MODEL_FEATURES: tuple[str, ...] = tuple(
    name for name in s.FEATURE_COLUMN_NAMES if name not in ("mooc_letter_grade", "mooc_is_passed")
)
TARGETS = {"fail": "is_passed", "dropout": "is_dropout"}
Log = Callable[[str], None]


@dataclass
class TrainingOutcome:
    model_name: str
    model_version: str
    target: str
    training_rows: int
    metrics: dict
    auc_by_week: dict[int, float]
    baseline_auc_by_week: dict[int, float]
    feature_importances: dict[str, float]
    comparison: list[dict] = field(default_factory=list)
    promoted: bool = False
    gate: dict = field(default_factory=dict)


def semester_order(engine: sa.Engine) -> list[str]:
    """Semesters oldest first, by the earliest start of their courses."""
    courses = s.courses
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(courses.c.semester, sa.func.min(courses.c.start_at).label("first"))
            .where(courses.c.semester.is_not(None))
            .group_by(courses.c.semester)
        ).all()
    return [
        semester for semester, _ in sorted(rows, key=lambda row: (row.first is None, row.first))
    ]


def training_window(engine: sa.Engine, semester: str, window: int) -> list[str]:
    """`semester` and up to `window - 1` semesters before it."""
    order = semester_order(engine)
    if semester not in order:
        return [semester]
    position = order.index(semester)
    return order[max(0, position - window + 1) : position + 1]


def load_training_rows(engine: sa.Engine, semesters: Sequence[str]) -> pd.DataFrame:
    """Point-in-time rows (source semester_close) of the given semesters, from weeks that
    ended before their course did: the capture after the end holds the final gradebook
    (the label's own source), never a feature row."""
    td, courses = s.training_data, s.courses
    with engine.connect() as connection:
        rows = pd.DataFrame(
            connection.execute(
                sa.select(td).where(
                    td.c.semester.in_(list(semesters)), td.c.source == s.SEMESTER_SOURCE
                )
            )
            .mappings()
            .all(),
            columns=td.c.keys(),
        )
        windows = pd.DataFrame(
            connection.execute(
                sa.select(courses.c.course_id, courses.c.start_at, courses.c.end_at).where(
                    courses.c.semester.in_(list(semesters))
                )
            ).all(),
            columns=["course_id", "start_at", "end_at"],
        )
    windows["last_week"] = [
        week_of_course(start, end) if end is not None and not pd.isna(end) else None
        for start, end in zip(windows["start_at"], windows["end_at"], strict=True)
    ]
    last_week = rows["course_id"].map(windows.set_index("course_id")["last_week"])
    before_end = last_week.notna() & (rows["snapshot_week"] < last_week)
    return rows[before_end.astype(bool)].reset_index(drop=True)


def data_hash(rows: pd.DataFrame, target_column: str) -> str:
    """A fingerprint of exactly which rows and labels trained a model (lineage)."""
    keys = rows[["user_id", "course_id", "semester", "snapshot_week", target_column]].astype(str)
    joined = "\n".join(sorted(keys.agg("\x1f".join, axis=1)))
    return hashlib.sha256(joined.encode()).hexdigest()


def _labels(rows: pd.DataFrame, target: str) -> np.ndarray:
    column = TARGETS[target]
    values = rows[column].astype("boolean")
    return (~values).astype(int).to_numpy() if target == "fail" else values.astype(int).to_numpy()


def _fit(train: pd.DataFrame, validation: pd.DataFrame, target: str, iterations: int):
    # fit_fail_model learns P(not is_passed); for dropout, present is_dropout as "not passed".
    if target == "dropout":
        train = train.assign(is_passed=~train["is_dropout"].astype("boolean"))
        validation = validation.assign(is_passed=~validation["is_dropout"].astype("boolean"))
    return fit_fail_model(train, MODEL_FEATURES, iterations=iterations, eval_set=validation)


def _serving_scores(
    engine: sa.Engine, store: ModelStore, test: pd.DataFrame
) -> tuple[str | None, np.ndarray | None, str | None]:
    """(serving default, its scores of the held-out rows, why it could not score them)."""
    try:
        with engine.connect() as connection:
            current = resolve_default_model(connection)
    except NoModelError:
        return None, None, None
    name = f"{current.model_name}:{current.model_version}"
    try:
        loaded = store.load_registered(current.model_path, current.features_csv_path)
    except (OSError, ValueError) as error:
        return name, None, f"its model file does not load ({error})"
    missing = [feature for feature in loaded.features if feature not in test.columns]
    if missing:
        return name, None, f"the held-out rows lack its features {missing}"
    return name, loaded.model.predict_proba(feature_matrix(test, loaded.features))[:, 1], None


def train_and_register(
    engine: sa.Engine,
    store: ModelStore,
    semester: str,
    *,
    target: str = "fail",
    window: int = 2,
    promote: str = "auto",
    iterations: int = 400,
    model_name: str | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
    log: Log = print,
) -> TrainingOutcome:
    """Train, evaluate on held-out students, store, register, record lineage, gate."""
    now = (now or utc_now()).replace(microsecond=0)
    semesters = training_window(engine, semester, window)
    rows = load_training_rows(engine, semesters)
    rows = rows[rows[TARGETS[target]].notna()].reset_index(drop=True)
    if rows.empty:
        raise ValueError(
            f"no labelled point-in-time training rows for {semesters}: materialize "
            f"training_data for {semester} first"
        )
    side = split_by_student(rows)
    train, validation, test = (rows[side == name] for name in ("train", "validation", "test"))
    name = model_name or f"{target}_risk"
    existing = _already_trained(engine, name, target, rows[side != "test"], TARGETS[target])
    if existing is not None:
        log(
            f"{existing.model_name}:{existing.model_version} was trained on exactly these rows: "
            "nothing to do"
        )
        return existing
    log(
        f"training {target} model on {semesters}: {len(train)} train, {len(validation)} "
        f"validation, {len(test)} held-out rows (split by student)"
    )
    model = _fit(train, validation, target, iterations)
    labels = _labels(test, target)
    probabilities = model.predict_proba(test.loc[:, list(MODEL_FEATURES)].astype("float64"))[:, 1]
    weeks = early_weeks(test["snapshot_week"])
    curve = auc_by_week(test["snapshot_week"], labels, probabilities)
    baselines = {
        baseline: auc_by_week(test["snapshot_week"], labels, scores(test))
        for baseline, scores in BASELINES.items()
    }
    metrics = classification_metrics(labels, probabilities) | {
        "auc_by_week": {str(k): v for k, v in curve.items()},
        "early_weeks": weeks,
        "early_mean_auc": mean_auc(curve, weeks),
        "baseline_auc_by_week": {str(k): v for k, v in baselines["grade_so_far"].items()},
        "baselines": {
            baseline: {
                "auc_by_week": {str(k): v for k, v in baseline_curve.items()},
                "early_mean_auc": mean_auc(baseline_curve, weeks),
            }
            for baseline, baseline_curve in baselines.items()
        },
        "best_iteration": int(model.get_best_iteration() or iterations),
    }
    version = f"{semester}-{now:%Y%m%d%H%M%S}"
    gate = (
        gate_decision(engine, store, f"{name}:{version}", metrics, test, labels, promote)
        if target == "fail"
        else {"promote": False, "reason": "dropout models are registered, never promoted"}
    )
    metrics["gate"] = gate
    for line in gate.get("table", []):
        log(f"promotion gate: {line}")
    log(f"promotion gate: {gate['reason']}")
    store.save(
        name, version, model, list(MODEL_FEATURES), {"metrics": metrics, "trained_on": semesters}
    )
    # A refused candidate is registered inactive: no mapping and no fallback can pick it
    # until an engineer promotes it (registry activate + set-default).
    register_model(
        engine,
        name,
        version,
        store=store,
        model_type=target,
        domain=s.SEMESTER_SOURCE,
        metrics=metrics,
        trained_on=semesters,
        training_rows=len(train) + len(validation),
        run_id=run_id,
        active=gate["promote"] or target != "fail",
    )
    _record_lineage(engine, name, version, rows[side != "test"], TARGETS[target], now)
    if gate["promote"]:
        set_default(engine, name, version)
        log(f"promoted {name}:{version} to default")
    importances = dict(
        sorted(
            zip(MODEL_FEATURES, (float(v) for v in model.get_feature_importance()), strict=True),
            key=lambda item: -item[1],
        )
    )
    return TrainingOutcome(
        name,
        version,
        target,
        len(train) + len(validation),
        metrics,
        curve,
        baselines["grade_so_far"],
        importances,
        comparison=gate.get("comparison", []),
        promoted=gate["promote"],
        gate=gate,
    )


def _lineage_hashes(rows: pd.DataFrame, target_column: str) -> dict[str, str]:
    return {
        semester: data_hash(group, target_column) for semester, group in rows.groupby("semester")
    }


def _already_trained(
    engine: sa.Engine, name: str, target: str, rows: pd.DataFrame, target_column: str
) -> TrainingOutcome | None:
    """The registered model of this name and target trained on exactly these rows (same
    semesters, same data hashes), so a rerun registers no duplicate version."""
    wanted = _lineage_hashes(rows, target_column)
    lineage, registry = s.model_training_lineage, s.model_registry
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(lineage.c.model_version, lineage.c.semester, lineage.c.data_hash).where(
                lineage.c.model_name == name
            )
        ).all()
        by_version: dict[str, dict[str, str]] = {}
        for version, semester, digest in found:
            by_version.setdefault(version, {})[semester] = digest
        matches = sorted(v for v, hashes in by_version.items() if hashes == wanted)
        if not matches:
            return None
        row = (
            connection.execute(
                sa.select(registry).where(
                    registry.c.model_name == name,
                    registry.c.model_version == matches[-1],
                    registry.c.model_type == target,
                )
            )
            .mappings()
            .one_or_none()
        )
    if row is None:
        return None
    metrics = row["metrics"] or {}
    return TrainingOutcome(
        name,
        row["model_version"],
        target,
        int(row["training_rows"] or 0),
        metrics,
        {int(k): v for k, v in (metrics.get("auc_by_week") or {}).items()},
        {int(k): v for k, v in (metrics.get("baseline_auc_by_week") or {}).items()},
        {},
        promoted=bool(row["is_default"]),
    )


def _record_lineage(
    engine: sa.Engine,
    name: str,
    version: str,
    rows: pd.DataFrame,
    target_column: str,
    now: datetime,
) -> None:
    lineage = [
        {
            "model_name": name,
            "model_version": version,
            "semester": semester,
            "training_rows": len(group),
            "data_hash": data_hash(group, target_column),
            "created_at": now,
        }
        for semester, group in rows.groupby("semester")
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(s.model_training_lineage), lineage)


def gate_decision(
    engine: sa.Engine,
    store: ModelStore,
    candidate: str,
    metrics: dict,
    test: pd.DataFrame,
    labels: np.ndarray,
    promote: str,
) -> dict:
    """Whether the candidate replaces the serving default: both scored on the same
    held-out rows, compared on the mean AUC of the first half of the course weeks."""
    weeks = metrics["early_weeks"]
    candidate_early = metrics["early_mean_auc"]
    serving, scores, problem = _serving_scores(engine, store, test)
    serving_curve = auc_by_week(test["snapshot_week"], labels, scores) if scores is not None else {}
    serving_early = mean_auc(serving_curve, weeks) if scores is not None else None
    comparison = [
        {"model": candidate, "role": "candidate", "early_mean_auc": candidate_early,
         "held_out_auc": metrics["roc_auc"]},
    ]  # fmt: skip
    if serving is not None:
        comparison.append(
            {"model": serving, "role": "serving default", "early_mean_auc": serving_early,
             "held_out_auc": auc(labels, scores) if scores is not None else None}
        )  # fmt: skip
    decision = {"comparison": comparison, "early_weeks": weeks, "serving": serving}
    decision["serving_auc_by_week"] = {str(k): v for k, v in serving_curve.items()}
    decision["table"] = [
        f"{row['role']:<16} {row['model']:<40} early-weeks AUC {row['early_mean_auc']}"
        for row in comparison
    ]
    if promote != "auto":
        return decision | {"promote": False, "reason": "promote=never: registered as a candidate"}
    if candidate_early is None:
        return decision | {
            "promote": False,
            "reason": "the candidate has no early-weeks AUC on the held-out rows: kept as a "
            "candidate",
        }
    if serving is None:
        return decision | {"promote": True, "reason": "no model serves yet: promoted"}
    if problem is not None or serving_early is None:
        why = problem or "its early-weeks AUC is undefined on these rows"
        return decision | {
            "promote": False,
            "reason": f"cannot evaluate the serving model {serving} on the held-out rows: "
            f"{why}. Not promoting on its own: compare by hand, then `registry activate` and "
            f"`registry set-default` {candidate.replace(':', ' ')}",
        }
    if candidate_early >= serving_early:
        return decision | {
            "promote": True,
            "reason": f"promoted: early-weeks AUC {candidate_early} ≥ {serving_early} of {serving}",
        }
    return decision | {
        "promote": False,
        "reason": f"refused: early-weeks AUC {candidate_early} < {serving_early} of {serving}; "
        "registered as an inactive candidate",
    }
