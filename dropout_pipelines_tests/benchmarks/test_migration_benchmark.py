"""Smoke test of `make bench-migration`: the benchmark runs end to end and reports a ratio.

Timings are not asserted (they depend on the machine and on 2,000 rows mean nothing); the
test guards the report's shape, which the README and PRs quote, and that both numbers of the
ratio were measured.
"""

from __future__ import annotations

import re

import pytest

from benchmarks.migration import TABLE_COLUMNS, WRITTEN_TABLES, main


@pytest.fixture
def printed(capsys) -> str:
    assert main(["--rows", "2000", "--backends", "sqlite"]) == 0
    return capsys.readouterr().out


def _markdown_rows(
    text: str, first_header: str, occurrence: int = 0
) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of the n-th Markdown table whose first header cell is given."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    starts = [i for i, line in enumerate(lines) if line.split("|")[1].strip() == first_header]
    start = starts[occurrence]
    cells = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start:]]
    header, body = cells[0], []
    for row in cells[2:]:
        if len(row) != len(header) or row[0] == header[0]:
            break
        body.append(row)
    return header, body


def test_report_has_expected_columns_and_a_positive_ratio(printed: str) -> None:
    plain_header = next(line for line in printed.splitlines() if line.startswith("backend"))
    assert plain_header.split() == " ".join(TABLE_COLUMNS).split()

    header, rows = _markdown_rows(printed, "backend")
    assert header == list(TABLE_COLUMNS)
    assert [row[0] for row in rows] == ["sqlite"]
    row = dict(zip(header, rows[0], strict=True))
    assert row["rows"] == "2,000"
    assert float(row["migrate s"]) > 0
    ratio = float(row["migrate/floor"].rstrip("×"))
    assert 0 < ratio < float("inf")
    assert row["goal"] == "≤ 2.0×"
    assert row["met"] == ("met" if ratio <= 2.0 else "not met")


def test_report_has_a_cpu_cross_check_for_sqlite(printed: str) -> None:
    header, rows = _markdown_rows(printed, "backend", occurrence=1)
    assert header == ["backend", "floor CPU s", "migrate CPU s", "CPU migrate/floor"]
    row = dict(zip(header, rows[0], strict=True))
    assert row["backend"] == "sqlite"
    assert float(row["migrate CPU s"]) > 0
    assert float(row["CPU migrate/floor"].rstrip("×")) > 0


def test_report_splits_the_migration_per_statement_and_counts_written_rows(printed: str) -> None:
    _, steps = _markdown_rows(printed, "step")
    labels = [row[0] for row in steps]
    for table in ("student_features", "enrollments", "predictions", "training_data"):
        assert table in labels
    assert labels[-1] == "commit"

    _, written = _markdown_rows(printed, "table")
    counts = {row[0]: row[1] for row in written}
    assert set(WRITTEN_TABLES) <= set(counts)
    total = sum(int(counts[name].replace(",", "")) for name in WRITTEN_TABLES)
    assert int(counts["total written"].replace(",", "")) == total
    assert counts["raw_data rows read"] == "2,000"
    assert re.fullmatch(r"\d+\.\d\d×", counts["written/raw rows"])
    assert total > 2000  # the migration writes several rows per raw row
