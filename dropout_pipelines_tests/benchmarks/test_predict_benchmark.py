"""Smoke test of `make bench-predict`: the benchmark runs end to end and prints its tables.

Timings are not asserted (they depend on the machine, and 500 students mean nothing); the
test guards the report's shape, which the README and PRs quote: the summary's columns, the
steps it compares (floor and its parts, both predict_course runs, the naive version), a
goal verdict that agrees with the printed ratio, and the phase split of each run.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import pytest

from benchmarks.predict import (
    FLOOR_INSERT,
    FLOOR_PROBA,
    FLOOR_SHAP,
    FLOOR_TOTAL,
    OTHER_PHASE,
    PHASE_COLUMNS,
    PHASES,
    TABLE_COLUMNS,
    main,
)


@pytest.fixture(scope="module")
def printed() -> str:
    """One run shared by the module's tests (training the model and the runs take seconds)."""
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main(["--students", "500", "--backends", "sqlite"]) == 0
    return buffer.getvalue()


def _markdown_rows(text: str, first_header: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the Markdown table whose first two header cells are given."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    start = next(i for i, row in enumerate(cells) if row[:2] == first_header.split(" ", 1))
    header, body = cells[start], []
    for row in cells[start + 2 :]:
        if len(row) != len(header) or row[0] == header[0]:
            break
        body.append(row)
    return header, body


def test_summary_has_the_columns_and_steps(printed: str) -> None:
    plain_header = next(line for line in printed.splitlines() if line.startswith("backend  step"))
    assert plain_header.split() == " ".join(TABLE_COLUMNS).split()

    header, rows = _markdown_rows(printed, "backend step")
    assert header == list(TABLE_COLUMNS)
    assert {row[0] for row in rows} == {"sqlite"}
    steps = [row[1] for row in rows]
    assert steps[:4] == [FLOOR_TOTAL, FLOOR_PROBA, FLOOR_SHAP, FLOOR_INSERT]
    assert steps[4] == "predictions step, run 1 (empty history)"
    assert steps[5] == "predictions step, run 2 (retires 500 latest)"
    assert steps[6] == "naive per student (all 500 timed)"  # 500 < the 2,000 sample
    assert len(rows) == 7


def test_goal_verdicts_agree_with_the_printed_ratios(printed: str) -> None:
    header, rows = _markdown_rows(printed, "backend step")
    by_step = {row[1]: dict(zip(header, row, strict=True)) for row in rows}
    assert by_step[FLOOR_TOTAL]["×floor"] == "1.00×"
    for step, row in by_step.items():
        float(row["seconds"])  # a number, whatever its value
        ratio = float(row["×floor"].rstrip("×"))
        if step.startswith("predictions step"):
            assert row["goal"] == "≤ 1.5×"
            assert row["met"] == ("met" if ratio <= 1.5 else "not met")
        else:
            assert row["goal"] == row["met"] == "-"


def test_each_run_is_split_into_phases(printed: str) -> None:
    header, rows = _markdown_rows(printed, "backend run")
    assert header == list(PHASE_COLUMNS)
    expected = [label for _, label in PHASES] + [OTHER_PHASE]
    for run in ("1", "2"):
        assert [row[2] for row in rows if row[1] == run] == expected
