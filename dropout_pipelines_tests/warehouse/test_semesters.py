from datetime import datetime

import pytest

from dropout_pipelines.warehouse.semesters import semester_for

COURSE = "course-v1:DHQG-HCM+FM101+2025_S2"


def test_default_is_the_run_part():
    assert semester_for(COURSE) == "2025_S2"
    assert semester_for("DHQG/FM101/2024_T3") == "2024_T3"
    assert semester_for("not-a-course-key") is None


def test_pattern(monkeypatch):
    monkeypatch.setenv("DROPOUT_SEMESTER_PATTERN", r"\+(?P<semester>\d{4})_S\d$")
    assert semester_for(COURSE) == "2025"
    assert semester_for("course-v1:UEL+NLTT241225+2025_12") is None


def test_terms_by_start_date(monkeypatch):
    monkeypatch.setenv("DROPOUT_SEMESTER_TERMS", "HK1=2025-08-15, HK2=2026-01-10")
    assert semester_for(COURSE, datetime(2025, 9, 1)) == "HK1"
    assert semester_for(COURSE, datetime(2026, 2, 1)) == "HK2"
    assert semester_for(COURSE, datetime(2025, 1, 1)) is None
    monkeypatch.setenv("DROPOUT_SEMESTER_TERMS", "HK1=15/08/2025")
    with pytest.raises(ValueError, match="NAME=YYYY-MM-DD"):
        semester_for(COURSE, datetime(2025, 9, 1))
