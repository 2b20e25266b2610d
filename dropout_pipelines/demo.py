"""`make demo`: the legacy demo database, the migration job as a real Dagster run, a summary.

Runs against `DROPOUT_DB_URL` (default: the embedded SQLite file) and records the run in
`DAGSTER_HOME`, so it shows in the UI that `make dev` opens. Safe to run twice: the legacy
table is generated only when the database has none, and the migration recognises its own
completed work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from dropout_pipelines.settings import PROJECT_ROOT, db_url_from_env
from dropout_pipelines.simulator.legacy_data import (
    LegacyDataSpec,
    generate_raw_data,
    write_raw_data,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.legacy_schema import LEGACY_TABLE_NAME
from dropout_pipelines.warehouse.urls import mask_url

SUMMARY_TABLES = (
    s.courses,
    s.student_features,
    s.enrollments,
    s.predictions,
    s.training_data,
    s.model_registry,
    s.course_model_mapping,
)
# Dagster's console lines worth showing in the demo: what each op logged for the user.
SHOWN_LEVELS = (" - INFO - ", " - WARNING - ", " - ERROR - ", " - CRITICAL - ")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def ensure_legacy_table(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        present = sa.inspect(connection).has_table(LEGACY_TABLE_NAME)
    if present:
        say(f"legacy table {LEGACY_TABLE_NAME} already present: kept as it is")
        return
    frame = generate_raw_data(LegacyDataSpec())
    write_raw_data(engine, frame)
    say(f"generated the legacy demo table {LEGACY_TABLE_NAME}: {len(frame)} rows")


def run_job(job_name: str) -> None:
    """Run a job through the Dagster CLI so the run is stored in DAGSTER_HOME."""
    dagster = Path(sys.executable).with_name("dagster")
    command = [
        str(dagster),
        "job",
        "execute",
        "-m",
        "dropout_pipelines.definitions",
        "-j",
        job_name,
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if any(level in line for level in SHOWN_LEVELS):
            after_job = line.split(f"{job_name} - ", 1)[-1]
            print("    " + after_job.partition(" - ")[2].strip(), flush=True)
    if process.wait() != 0:
        raise SystemExit(f"{job_name} failed (exit {process.returncode}): see the lines above")


def print_summary(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        counts = {
            table.name: connection.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
            for table in SUMMARY_TABLES
        }
        per_course = connection.execute(
            sa.select(s.student_features.c.course_id, sa.func.count())
            .group_by(s.student_features.c.course_id)
            .order_by(s.student_features.c.course_id)
        ).all()
    say("warehouse now holds:")
    for name, count in counts.items():
        print(f"    {name:<22} {count:>8}")
    for course_id, students in per_course:
        print(f"    {course_id:<45} {students:>6} students")


def main() -> int:
    url = db_url_from_env()
    say(f"warehouse: {mask_url(url)}")
    say(f"DAGSTER_HOME: {os.environ.get('DAGSTER_HOME', '(unset: runs are not kept)')}")
    engine = get_engine(url)
    ensure_legacy_table(engine)
    say("running legacy_migration_job (backup, schema, migrate, model, mapping, views, verify)")
    run_job("legacy_migration_job")
    print_summary(engine)
    say("open the Dagster UI with `make dev`, then http://127.0.0.1:3000 (runs → the migration)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
