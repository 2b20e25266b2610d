"""Smoke test of `make bench-api`: it fills a course, serves it, loads it and prints both
rows and the goal verdict. Latencies are not asserted (they depend on the machine)."""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

from benchmarks.api import API_ROW, FLOOR_ROW, TABLE_COLUMNS, main


def test_the_benchmark_prints_api_and_floor_rows_and_a_verdict() -> None:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert (
            main(
                ["--students", "300", "--clients", "4", "--seconds", "1.5", "--backends", "sqlite"]
            )
            == 0
        )
    printed = buffer.getvalue()
    header = next(line for line in printed.splitlines() if line.startswith("step"))
    assert header.split() == " ".join(TABLE_COLUMNS).split()
    for row in (API_ROW, FLOOR_ROW):
        line = next(line for line in printed.splitlines() if line.startswith(row))
        cells = line[len(row) :].split()
        assert int(cells[0].replace(",", "")) > 0  # requests were answered
        assert cells[-1] == "0"  # and none failed
    verdict = re.search(r"p95 API / floor = ([0-9.]+)x \(goal <= 2x: (met|NOT met)\)", printed)
    assert verdict and (float(verdict[1]) <= 2) == (verdict[2] == "met")
