"""Smoke test of `make bench-ingest`: the benchmark runs end to end on a small course.

Timings are not asserted (200 students without latency measure nothing but overhead); the
test guards the report's shape, which the README and PRs quote, that every ratio has both
of its numbers measured, and that the floor really sent the ingestion's requests.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from dropout_pipelines.benchmarks.ingest import (
    CONCURRENT,
    CONCURRENT_GOAL,
    FLOOR,
    SEQUENTIAL,
    SEQUENTIAL_GOAL,
    TABLE_COLUMNS,
    main,
)


@pytest.fixture(scope="module")
def printed() -> str:
    """One run for the module's tests: it starts a simulator process, which takes a moment."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--students", "200", "--latency-ms", "0"]) == 0
    return out.getvalue()


def _markdown_rows(text: str, first_header: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the Markdown table whose first header cell is given."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    start = next(i for i, line in enumerate(lines) if line.split("|")[1].strip() == first_header)
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start:]]
    header, body = cells[0], []
    for row in cells[2:]:
        if len(row) != len(header) or row[0] == header[0]:
            break
        body.append(row)
    return header, body


def _number(cell: str) -> float:
    return float(cell.rstrip("×").replace(",", ""))


def test_summary_has_the_expected_columns_and_rows(printed: str) -> None:
    plain_header = next(line for line in printed.splitlines() if line.startswith("mode"))
    assert plain_header.split() == " ".join(TABLE_COLUMNS).split()

    header, rows = _markdown_rows(printed, "mode")
    assert header == list(TABLE_COLUMNS)
    assert [(row[0], row[1]) for row in rows] == [
        (FLOOR, "-"),
        (SEQUENTIAL, "sqlite"),
        (CONCURRENT, "sqlite"),
    ]
    by_mode = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert _number(by_mode[FLOOR]["seconds"]) > 0
    assert by_mode[FLOOR]["vs floor"] == "1.00×"
    goals = {SEQUENTIAL: (SEQUENTIAL_GOAL, "≤"), CONCURRENT: (CONCURRENT_GOAL, "<")}
    for mode, (goal, sign) in goals.items():
        row = by_mode[mode]
        fetch_s, write_s = _number(row["fetch s"]), _number(row["write s"])
        assert fetch_s > 0 and write_s > 0
        assert _number(row["seconds"]) == pytest.approx(fetch_s + write_s, abs=0.011)
        ratio = _number(row["vs floor"])
        assert 0 < ratio < float("inf")
        assert row["goal"] == f"{sign} {goal:.2f}×"
        met = ratio <= goal if sign == "≤" else ratio < goal
        assert row["met"] == ("met" if met else "not met")


def test_the_floor_sends_the_ingestions_requests(printed: str) -> None:
    header, rows = _markdown_rows(printed, "endpoint")
    counts = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    for endpoint in ("enrollments", "gradebook", "LRS statements", "accounts batches"):
        row = counts[endpoint]
        assert _number(row["floor req"]) == _number(row["seq req"]) == _number(row["conc req"])
        assert _number(row["floor req"]) >= 1
    assert _number(counts["total"]["floor req"]) == _number(counts["total"]["seq req"])
    assert "in the same order: yes" in printed
    assert "same multiset as the concurrent ingestion's: yes" in printed
