"""Smoke test of `make bench-ingest`: the benchmark runs end to end on a tiny course.

Timings are not asserted (30 students without latency measure nothing but overhead); the
test guards the report's shape, which the README and PRs quote, that every ratio has both
of its numbers measured, that the floor really sent the ingestion's requests, that the
second ingestion a simulated day later read only what was new, and that every ingestion's
peak memory was measured.
"""

from __future__ import annotations

import contextlib
import io

import pytest

from benchmarks.ingest import (
    CONCURRENT,
    CONCURRENT_GOAL,
    FIRST,
    FLOOR,
    MEMORY_COLUMNS,
    REFRESH_COLUMNS,
    SECOND,
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
        assert main(["--students", "30", "--latency-ms", "0"]) == 0
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


def _markdown_section(text: str, title_start: str) -> str:
    """The Markdown part of the report from the bold title that starts so."""
    return text.split(f"**{title_start}", 1)[1]


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
        assert _number(row["floor req"]) == _number(row["seq req"])
        assert _number(row["floor req"]) >= 1
        if endpoint != "LRS statements":  # read as time windows by the concurrent mode
            assert _number(row["conc req"]) == _number(row["floor req"])
    assert _number(counts["LRS statements"]["conc req"]) >= 1
    assert _number(counts["total"]["floor req"]) == _number(counts["total"]["seq req"])
    identical = next(line for line in printed.splitlines() if "GET URLs identical" in line)
    assert "in the same order: yes" in identical, identical
    assert "same multiset as the concurrent ingestion's outside the LRS: yes" in identical
    # The second ingestion refetches the Open edX sources whole and pages the LRS less.
    for endpoint in ("enrollments", "gradebook", "accounts batches"):
        assert _number(counts[endpoint]["seq 2nd req"]) >= 1
    lrs = counts["LRS statements"]
    assert 1 <= _number(lrs["seq 2nd req"]) <= _number(lrs["seq req"])


def test_the_second_ingestion_reads_only_the_days_statements(printed: str) -> None:
    header, rows = _markdown_rows(_markdown_section(printed, "Second ingestion after"), "mode")
    assert header == list(REFRESH_COLUMNS)
    assert [tuple(row[:3]) for row in rows] == [
        (mode, "sqlite", ingestion)
        for mode in (SEQUENTIAL, CONCURRENT)
        for ingestion in (FIRST, SECOND)
    ]
    numbers = {
        (row[0], row[2]): {
            name: _number(cell) for name, cell in zip(header[3:], row[3:], strict=True)
        }
        for row in rows
    }
    new = {key: row["new statements"] for key, row in numbers.items()}
    for mode in (SEQUENTIAL, CONCURRENT):
        first, second = numbers[(mode, FIRST)], numbers[(mode, SECOND)]
        # A fresh warehouse has no cursor: the first ingestion reads (and keeps) everything.
        assert first["statements fetched"] == first["new statements"] > 0
        assert 0 <= second["new statements"] <= second["statements fetched"]
        assert second["statements fetched"] < first["statements fetched"]
        assert second["LRS requests"] <= first["LRS requests"]
        assert second["requests"] <= first["requests"]
        for row in (first, second):
            assert row["fetch s"] > 0 and row["write s"] > 0 and row["fetch CPU s"] > 0
            assert row["seconds"] == pytest.approx(row["fetch s"] + row["write s"], abs=0.011)
        assert first["vs first"] == 1.0
        ratio = second["seconds"] / first["seconds"]
        assert second["vs first"] == pytest.approx(ratio, abs=0.02)
    # Both modes fetched the same world at the same moments.
    for ingestion in (FIRST, SECOND):
        assert new[(SEQUENTIAL, ingestion)] == new[(CONCURRENT, ingestion)]

    _, data = _markdown_rows(printed, "what")
    values = {row[0]: row[1] for row in data}
    day, _, total, *_ = values["statements new on that day"].split()
    assert _number(day) == new[(SEQUENTIAL, SECOND)]
    assert _number(total) == new[(SEQUENTIAL, FIRST)] + new[(SEQUENTIAL, SECOND)]
    assert values["simulator now: first / second"] == "2026-11-29 00:00 / 2026-11-30 00:00"
    assert "digested by both modes' second ingestions the same: yes" in printed


def test_every_ingestion_has_its_peak_memory(printed: str) -> None:
    header, rows = _markdown_rows(_markdown_section(printed, "Peak resident memory"), "mode")
    assert header == list(MEMORY_COLUMNS)
    assert [tuple(row[:2]) for row in rows] == [
        (mode, ingestion) for mode in (SEQUENTIAL, CONCURRENT) for ingestion in (FIRST, SECOND)
    ]
    for row in rows:
        baseline, fetch, total, growth = (_number(cell) for cell in row[2:])
        assert baseline > 0 and fetch > 0 and total > 0
        assert total >= fetch
        assert growth == pytest.approx(total - baseline, abs=1)
