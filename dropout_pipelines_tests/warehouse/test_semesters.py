from datetime import datetime

import pytest

from dropout_pipelines.warehouse.resource import WarehouseResource
from dropout_pipelines.warehouse.semesters import DEFAULT_SEMESTER_RULE, SemesterRule

COURSE = "course-v1:DHQG-HCM+FM101+2025_S2"


def test_default_is_the_run_part():
    assert DEFAULT_SEMESTER_RULE.semester_for(COURSE) == "2025_S2"
    assert DEFAULT_SEMESTER_RULE.semester_for("DHQG/FM101/2024_T3") == "2024_T3"
    assert DEFAULT_SEMESTER_RULE.semester_for("not-a-course-key") is None


def test_pattern():
    rule = SemesterRule(pattern=r"\+(?P<semester>\d{4})_S\d$")
    assert rule.semester_for(COURSE) == "2025"
    assert rule.semester_for("course-v1:UEL+NLTT241225+2025_12") is None


def test_terms_by_start_date():
    rule = SemesterRule(terms="HK1=2025-08-15, HK2=2026-01-10")
    assert rule.semester_for(COURSE, datetime(2025, 9, 1)) == "HK1"
    assert rule.semester_for(COURSE, datetime(2026, 2, 1)) == "HK2"
    assert rule.semester_for(COURSE, datetime(2025, 1, 1)) is None


def test_a_bad_rule_fails_when_configured():
    with pytest.raises(ValueError, match="NAME=YYYY-MM-DD"):
        SemesterRule(terms="HK1=15/08/2025")
    with pytest.raises(Exception, match="unterminated"):
        SemesterRule(pattern=r"(?P<semester>\d{4}")


def test_the_resource_carries_the_rule_from_its_fields_or_the_environment(monkeypatch):
    monkeypatch.delenv("DROPOUT_SEMESTER_PATTERN", raising=False)
    monkeypatch.delenv("DROPOUT_SEMESTER_TERMS", raising=False)
    assert WarehouseResource().semester_rule() == DEFAULT_SEMESTER_RULE
    monkeypatch.setenv("DROPOUT_SEMESTER_TERMS", "HK1=2025-08-15")
    assert WarehouseResource().semester_rule().semester_for(COURSE, datetime(2025, 9, 1)) == "HK1"
    configured = WarehouseResource(semester_pattern=r"\+(?P<semester>\d{4})_S\d$")
    assert configured.semester_rule().semester_for(COURSE) == "2025"
