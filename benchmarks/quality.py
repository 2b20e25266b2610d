"""`make bench-quality`: is the early warning better than one feature, week by week?

The simulator's closed semester is ingested through the real Open edX + LRS clients (the
weeks nobody watched are rebuilt from the stored history, as on a fresh install), its
point-in-time training data is built from the warehouse, a model is trained and evaluated
on held-out students, and the AUC of every snapshot week is printed beside the two
baselines a model must beat: the grade so far, and the days since the last activity. The
goal (issue 9): the model beats both baselines at every week before the end, by at least
0.05 on average over the first half of the course.

    python -m benchmarks.quality [--students 300] [--courses 3] [--seed 7]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import date
from pathlib import Path

from benchmarks.report import markdown_table, positive, progress_printer
from dropout_pipelines.clock import utc_now
from dropout_pipelines.ingest.refresh import ingest_course
from dropout_pipelines.ingest.resources import LrsResource, OpenEdxResource
from dropout_pipelines.predict.model_store import LocalModelStore
from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator
from dropout_pipelines.training.labels import DEFAULT_RULE
from dropout_pipelines.training.point_in_time import build_semester_training_data
from dropout_pipelines.training.semesters import closed_semesters
from dropout_pipelines.training.train import train_and_register
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine

GOAL_MARGIN = 0.05
BASELINE_NAMES = {"grade_so_far": "grade so far", "days_since_last_activity": "days inactive"}


def _resources(simulator) -> tuple[OpenEdxResource, LrsResource]:
    credentials = simulator.config.credentials
    openedx = OpenEdxResource(
        base_url=simulator.base_url,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
    )
    lrs = LrsResource(
        url=simulator.lrs_url,
        username=credentials.lrs_username,
        password=credentials.lrs_password,
        platform_url=simulator.platform_url,
    )
    return openedx, lrs


def measure(students: int, courses: int, seed: int, today: date, progress) -> dict:
    """Ingest, build training data, train; the candidate's metrics (with both baselines)."""
    with (
        tempfile.TemporaryDirectory() as folder,
        start_simulator(
            SimulatorConfig(
                data=DataParams(
                    seed=seed,
                    today=today,
                    students_per_course=students,
                    courses_per_semester=courses,
                )
            )
        ) as simulator,
    ):
        engine = create_warehouse_engine(f"sqlite:///{Path(folder) / 'warehouse.sqlite'}")
        create_schema(engine)
        openedx, lrs = _resources(simulator)
        listed = openedx.client().list_courses()
        log = logging.getLogger("bench-quality")
        for course_id in sorted(listed["course_id"]):
            outcome = ingest_course(openedx, lrs, engine, course_id, log)
            progress(f"ingested {course_id}: {outcome.counts.features} students")
        semesters = closed_semesters(engine, utc_now())
        if not semesters:
            raise SystemExit("the simulator has no closed semester to train on")
        semester = semesters[-1]
        counts = build_semester_training_data(engine, semester, rule=DEFAULT_RULE, now=utc_now())
        progress(f"{semester}: {sum(counts.values())} training rows")
        outcome = train_and_register(
            engine,
            LocalModelStore(Path(folder) / "models"),
            semester,
            window=1,
            promote="never",
            log=progress,
        )
        engine.dispose()
        return outcome.metrics


def report(metrics: dict) -> tuple[str, bool]:
    """The per-week table and whether the goal is met."""
    model = {int(k): v for k, v in metrics["auc_by_week"].items()}
    baselines = {
        name: {int(k): v for k, v in metrics["baselines"][name]["auc_by_week"].items()}
        for name in BASELINE_NAMES
    }
    early = set(metrics["early_weeks"])
    rows, beats_every_week = [], True
    for week in sorted(model):
        best = max(baselines[name].get(week, 0.0) for name in BASELINE_NAMES)
        beats_every_week &= model[week] > best
        rows.append(
            [
                f"{week}{'*' if week in early else ''}",
                f"{model[week]:.3f}",
                *(f"{baselines[name].get(week, float('nan')):.3f}" for name in BASELINE_NAMES),
                f"{model[week] - best:+.3f}",
            ]
        )
    model_early = metrics["early_mean_auc"]
    best_early = max(metrics["baselines"][name]["early_mean_auc"] or 0 for name in BASELINE_NAMES)
    rows.append(
        [
            "early mean",
            f"{model_early:.3f}",
            *(f"{metrics['baselines'][n]['early_mean_auc']:.3f}" for n in BASELINE_NAMES),
            f"{model_early - best_early:+.3f}",
        ]
    )
    met = beats_every_week and model_early - best_early >= GOAL_MARGIN
    header = ["week", "model AUC", *BASELINE_NAMES.values(), "model − best baseline"]
    return markdown_table(header, rows), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=positive, default=300)
    parser.add_argument("--courses", type=positive, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 11, 29))
    args = parser.parse_args(argv)
    progress = progress_printer("bench-quality")
    metrics = measure(args.students, args.courses, args.seed, args.today, progress)
    table, met = report(metrics)
    print(table)
    print(
        f"\n* = early weeks (first half of the course), which decide. Goal: beat both baselines "
        f"every week and by ≥ {GOAL_MARGIN} on the early mean: {'met' if met else 'NOT met'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
