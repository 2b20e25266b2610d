"""Smoke test of `make bench-orchestration`: a daily tick of 3 small courses through a real
dagster-daemon, one run per course and batched, beside the floor.

Timings are not asserted (3 courses of 10 students measure nothing but start-up); the test
guards the report's shape, which the README quotes, that every course was refreshed and
scored by the runs the tick launched, and that the derived numbers agree with the measured
ones (overhead + work = wall per course, wall/floor = wall ÷ floor).
"""

from __future__ import annotations

import contextlib
import io
from datetime import datetime

import pytest
import sqlalchemy as sa

from benchmarks.orchestration import (
    COURSE_COLUMNS,
    DETAIL_COLUMNS,
    TABLE_COLUMNS,
    distinct_batch_sizes,
    main,
    merge_warehouses,
    mode_label,
    tick_time,
)
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.create import create_schema
from dropout_pipelines.warehouse.engine import create_warehouse_engine

COURSES = 3


@pytest.fixture(scope="module")
def printed() -> str:
    """One run for the module's tests: a simulator process, then per batch size a code
    server and a dagster-daemon, which take a while to start."""
    out = io.StringIO()
    argv = ["--courses", str(COURSES), "--students", "10", "--batch-sizes", "1,50"]
    argv += ["--dequeue-interval-s", "1", "--timeout-s", "300", "--refresh-workers", "2"]
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def _markdown_table(text: str, title: str) -> list[dict[str, str]]:
    """The rows, by header, of the Markdown table printed under `**title**`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"**{title}"))
    table = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    header, body = table[0], table[2:]
    return [dict(zip(header, row, strict=True)) for row in body]


def _number(cell: str) -> float:
    return float(cell.rstrip("×").replace(",", ""))


def test_stdout_holds_only_the_report(printed: str) -> None:
    lines = printed.splitlines()
    assert lines[0] == "Daily tick through the daemon vs the floor"
    assert lines[1].split() == " ".join(TABLE_COLUMNS).split()
    assert "code_server" not in printed and "INFO" not in printed


def test_every_course_is_refreshed_by_the_runs_the_tick_launched(printed: str) -> None:
    summary = _markdown_table(printed, "Daily tick")
    assert list(summary[0]) == list(TABLE_COLUMNS)
    assert [(row["courses"], row["mode"]) for row in summary] == [
        (str(COURSES), mode_label(1)),
        (str(COURSES), mode_label(50)),
    ]
    assert [row["runs"] for row in summary] == [str(COURSES), "1"]
    assert all(row["failed"] == "0" for row in summary)

    details = _markdown_table(printed, "Launch details")
    assert list(details[0]) == list(DETAIL_COLUMNS)
    for row in details:
        assert row["courses done"] == str(COURSES)
        assert row["complete"] == "yes"
        assert row["step retries"] == "0"
        assert 0 < _number(row["run start-up s"]) < _number(row["run s"])


def test_the_numbers_agree(printed: str) -> None:
    (courses,) = _markdown_table(printed, "Courses")
    assert list(courses) == list(COURSE_COLUMNS)
    floor_s = _number(courses["floor s"])
    assert floor_s > 0 and _number(courses["first refresh s"]) > 0
    assert _number(courses["floor ms/course"]) == pytest.approx(
        floor_s / COURSES * 1000, abs=0.05 / COURSES * 1000 + 1
    )
    for row in _markdown_table(printed, "Daily tick"):
        wall_s, work_ms = _number(row["wall s"]), _number(row["work ms/course"])
        assert _number(row["floor s"]) == floor_s
        assert wall_s > 0 and work_ms > 0
        # Cells are rounded: wall and floor to 0.1 s (a short floor makes the ratio of the
        # rounded cells drift by up to 0.05 / floor), the ratio to 0.01, per course to 1 ms.
        rounding = 0.05 / floor_s + 0.05 / wall_s + 0.01
        assert _number(row["wall/floor"]) == pytest.approx(wall_s / floor_s, rel=rounding)
        per_course_ms = _number(row["overhead ms/course"]) + work_ms
        assert per_course_ms == pytest.approx(
            wall_s / COURSES * 1000, abs=0.05 / COURSES * 1000 + 2
        )


def test_batch_sizes_that_give_the_same_runs_are_measured_once() -> None:
    assert distinct_batch_sizes([1, 50, 100, 200], 50, 200) == [1, 50]
    assert distinct_batch_sizes([1, 50, 100, 200], 200, 200) == [1, 50, 100, 200]
    assert distinct_batch_sizes([50, 1], 1, 200) == [50]


def test_one_run_per_course_stops_at_its_cap() -> None:
    assert distinct_batch_sizes([1, 50, 200], 1000, 200) == [50, 200]
    assert distinct_batch_sizes([1, 50, 200], 200, 200) == [1, 50, 200]


def test_the_tick_is_the_latest_predict_daily_time() -> None:
    assert tick_time(datetime(2026, 12, 3, 6, 45)) == datetime(2026, 12, 3, 2, 0)
    assert tick_time(datetime(2026, 12, 3, 1, 59)) == datetime(2026, 12, 2, 2, 0)
    assert tick_time(datetime(2026, 12, 3, 2, 0)) == datetime(2026, 12, 3, 2, 0)


def test_the_first_refresh_parts_merge_without_id_collisions(tmp_path) -> None:
    """Each worker's warehouse numbers its snapshots from 1; the merge keeps every row."""
    paths = [tmp_path / name for name in ("base.sqlite", "a.sqlite", "b.sqlite")]
    for number, path in enumerate(paths):
        engine = create_warehouse_engine(f"sqlite:///{path}")
        create_schema(engine)
        if number:
            course = f'course-v1:O\'Brien+"x";--+{number}'
            with engine.begin() as connection:
                connection.execute(
                    sa.insert(s.feature_snapshots),
                    [
                        {"user_id": user, "course_id": course, "snapshot_week": 1}
                        | {"captured_at": datetime(2026, 11, 1)}
                        for user in (1, 2)
                    ],
                )
        engine.dispose()
    merge_warehouses(paths[0], paths[1:])
    engine = create_warehouse_engine(f"sqlite:///{paths[0]}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(s.feature_snapshots.c.id, s.feature_snapshots.c.course_id)
        ).all()
    engine.dispose()
    assert sorted(row.id for row in rows) == [1, 2, 3, 4]
    assert {row.course_id for row in rows} == {
        'course-v1:O\'Brien+"x";--+1',
        'course-v1:O\'Brien+"x";--+2',
    }
