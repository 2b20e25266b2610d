"""The one UTC clock: injectable, and right whatever the server's time zone."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

from dropout_pipelines.clock import CLOCK_FILE_ENV, frozen_clock, utc_now, utc_now_s
from dropout_pipelines.settings import PROJECT_ROOT

NON_UTC_ZONE = "Asia/Ho_Chi_Minh"  # UTC+7, no daylight saving: the offset is always 7 h

# The parts of the suite whose results depend on "now": feature ages, the week of course,
# "final grades fetched after the end", semester closing, the schedules' due courses.
CLOCK_DEPENDENT_TESTS = [
    "dropout_pipelines_tests/features/test_history.py",
    "dropout_pipelines_tests/training/test_train_and_sensor.py::"
    "test_semester_closed_sensor_with_an_injected_clock",
    "dropout_pipelines_tests/predict/test_predictions.py::"
    "test_schedules_follow_the_mapping_table_at_every_tick",
    "dropout_pipelines_tests/ingest/test_course_ingestion.py::"
    "test_first_ingestion_creates_schema_and_fills_every_table",
    "dropout_pipelines_tests/ingest/test_course_ingestion.py::test_ended_course_marks_final_grades",
]


def test_frozen_clock_and_aware_moments():
    moment = datetime(2026, 9, 1, 12, 30, 15, 999)
    with frozen_clock(moment):
        assert utc_now() == moment and utc_now_s() == moment.replace(microsecond=0)
    hanoi = timezone(timedelta(hours=7))
    with frozen_clock(datetime(2026, 9, 1, 19, 30, tzinfo=hanoi)):
        assert utc_now() == datetime(2026, 9, 1, 12, 30)  # converted, then naive UTC
    assert abs(utc_now() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_clock_file_moves_time_across_processes(tmp_path, monkeypatch):
    clock_file = tmp_path / "now"
    clock_file.write_text("2027-01-25T08:00:00Z")
    monkeypatch.setenv(CLOCK_FILE_ENV, str(clock_file))
    assert utc_now() == datetime(2027, 1, 25, 8, 0)
    clock_file.write_text("2027-01-26T08:00:00+07:00")
    assert utc_now() == datetime(2027, 1, 26, 1, 0)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != CLOCK_FILE_ENV}
    return env | extra


def test_utc_now_ignores_the_servers_time_zone():
    probe = (
        "from datetime import datetime; from dropout_pipelines.clock import utc_now; "
        "print((datetime.now() - utc_now()).total_seconds())"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        env=_env(TZ=NON_UTC_ZONE),
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(float(completed.stdout) - 7 * 3600) < 60  # local time is 7 h ahead; ours is not


def test_clock_dependent_tests_pass_in_a_non_utc_time_zone():
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CLOCK_DEPENDENT_TESTS],
        cwd=PROJECT_ROOT,
        env=_env(TZ=NON_UTC_ZONE, DROPOUT_TEST_BACKENDS="sqlite"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout and " failed" not in completed.stdout
