"""legacy_migration_job end to end on SQLite and MariaDB, with drifting legacy tables."""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.api.reads import students_page
from dropout_pipelines.api.shapes import StudentsQuery
from dropout_pipelines.migration.legacy_table import reflect_legacy_table
from dropout_pipelines.migration.migrate import MigrationSettings, build_selects
from dropout_pipelines.migration.profile import profile_source
from dropout_pipelines.migration.selects import LEGACY_RUN_ID, drop_temporary_tables
from dropout_pipelines.predict.model_store import LocalModelStore
from dropout_pipelines.simulator.legacy_data import LegacyDataSpec
from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.engine import get_engine
from dropout_pipelines.warehouse.sql_files import named_query
from dropout_pipelines_tests.migration.helpers import (
    assert_same_state,
    load_legacy,
    run_migration,
    warehouse_state,
)
from dropout_pipelines_tests.predict.conftest import fit_model

TRICKY_COURSES = (
    "course-v1:O'Reilly+SQL_101%+2025_S1",
    'course-v1:UEL+NLTT"241225+2025_12',
    "course-v1:DHQG-HCM+FM101+2025_S2",
)


def _count(engine: sa.Engine, table: sa.Table, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(table).where(*where)
        ).scalar_one()


def _expected(frame):
    """What SPEC §4's rules give for a generated frame, computed independently in pandas."""
    newest = frame.sort_values(["updated_at", "id"]).drop_duplicates(
        ["user_id", "course_id"], keep="last"
    )
    labelled = frame[frame["is_passed"].notna()].copy()
    labelled["sem"] = labelled["semester"].fillna(
        labelled["course_id"].str.rsplit("+", n=1).str[-1]
    )
    training = labelled.sort_values(["updated_at", "id"]).drop_duplicates(
        ["user_id", "course_id", "sem"], keep="last"
    )
    return {
        "student_features": len(newest),
        "predictions": int(frame["fail_risk_score"].notna().sum()),
        "latest": int(
            frame[frame["fail_risk_score"].notna()]
            .drop_duplicates(["user_id", "course_id"])
            .shape[0]
        ),
        "training_data": len(training),
        "newest": newest,
        "training": training,
    }


NOW = datetime(2026, 12, 1, 9, 0)


def test_migration_follows_the_rules_and_verifies(monkeypatch, db_url):
    frame = load_legacy(db_url)
    run = run_migration(monkeypatch, db_url)
    assert run.success, run.failure_message()
    engine = get_engine(db_url)
    expected = _expected(frame)

    assert _count(engine, s.student_features) == expected["student_features"]
    assert (
        _count(engine, s.predictions, s.predictions.c.run_id == LEGACY_RUN_ID)
        == (expected["predictions"])
    )
    assert _count(engine, s.predictions, s.predictions.c.is_latest.is_(True)) == expected["latest"]
    assert _count(engine, s.training_data) == expected["training_data"]
    assert _count(engine, s.courses) == frame["course_id"].nunique()
    # The stored profile's training count is what the INSERT wrote (not counted apart).
    with engine.connect() as connection:
        (stored,) = connection.execute(sa.select(s.legacy_migrations.c.summary)).scalars()
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert stored["profile"]["training_rows"] == expected["training_data"] > 0
    assert _count(engine, s.course_model_mapping) == frame["course_id"].nunique()

    verify = run.metadata("verify_legacy_migration")
    assert "| NO |" not in verify["checks"]
    summary = verify["summary"]
    assert f"{len(frame)} raw rows" in summary
    assert f"{expected['predictions']} predictions" in summary
    assert f"{expected['training_data']} training records" in summary
    assert run.logs()[-20:] and any(summary in message for message in run.logs())

    # Training rows carry the newest labelled row's features and outcome.
    td = s.training_data
    compared = ["mooc_grade_percentage", "h5p_contents_attempted", "final_grade"]
    with engine.connect() as connection:
        stored = pd.DataFrame(
            connection.execute(
                sa.select(
                    td.c.user_id, td.c.course_id, td.c.semester, *(td.c[name] for name in compared)
                )
            )
            .mappings()
            .all()
        )
    want = expected["training"].drop(columns="semester").rename(columns={"sem": "semester"})
    joined = stored.merge(want, on=["user_id", "course_id", "semester"], suffixes=("", "_raw"))
    assert len(joined) == len(stored) == expected["training_data"]
    for name in compared:
        pd.testing.assert_series_equal(
            joined[name].astype(float),
            joined[f"{name}_raw"].astype(float),
            check_names=False,
            rtol=1e-6,
        )

    # The newest duplicate wins in student_features.
    newest = expected["newest"].set_index(["user_id", "course_id"])
    with engine.connect() as connection:
        migrated = {
            (row.user_id, row.course_id): row.mooc_grade_percentage
            for row in connection.execute(sa.select(s.student_features))
        }
    for key, grade in newest["mooc_grade_percentage"].dropna().items():
        assert migrated[key] == pytest.approx(grade, rel=1e-6)


def test_duplicated_students_keep_history_and_one_latest(monkeypatch, db_url):
    frame = load_legacy(db_url, LegacyDataSpec(rows=300, duplicate_share=0.2))
    assert run_migration(monkeypatch, db_url).success
    engine = get_engine(db_url)
    duplicated = frame[frame.duplicated(["user_id", "course_id"], keep=False)]
    user_id, course_id = duplicated.iloc[0][["user_id", "course_id"]]
    rows = duplicated[(duplicated.user_id == user_id) & (duplicated.course_id == course_id)]
    p = s.predictions
    with engine.connect() as connection:
        history = connection.execute(
            sa.select(p.c.fail_risk_score, p.c.is_latest).where(
                p.c.user_id == int(user_id), p.c.course_id == course_id
            )
        ).all()
    assert len(history) == len(rows)
    newest_score = rows.sort_values("updated_at").iloc[-1]["fail_risk_score"]
    (latest_score,) = [score for score, latest in history if latest]
    assert latest_score == pytest.approx(newest_score, rel=1e-6)


def test_profile_from_the_ranking_equals_the_grouped_one(db_url):
    """The migration counts duplicates from its newest-row ranking, the dry run by grouping:
    both must describe the same raw_data the same way, sample included."""
    load_legacy(db_url, LegacyDataSpec(rows=400, duplicate_share=0.25))
    engine = get_engine(db_url)
    legacy = reflect_legacy_table(engine)
    with engine.connect() as connection:
        selects, _ = build_selects(connection, legacy, MigrationSettings(), NOW)
        grouped = profile_source(connection, selects)
        ranked = profile_source(connection, selects.with_newest_ids(connection))
        drop_temporary_tables(connection)
    assert grouped.duplicate_keys > 0 and len(grouped.duplicate_sample) == 10
    assert ranked == grouped


# The same course written three ways: MariaDB's default collation is case- and
# trailing-space-insensitive, so ranking by course_id puts their rows together.
LOOKALIKE_COURSES = (
    "course-v1:UIT+CS101+2025_S1",
    "COURSE-V1:uit+cs101+2025_s1",
    "course-v1:UIT+CS101+2025_S1 ",
    "course-v1:O'Reilly+DS_1%+2025_S1",
)


def _ranks(connection: sa.Connection, ranked: sa.Subquery, rank: str) -> dict[int, int]:
    return {row.id: row[1] for row in connection.execute(sa.select(ranked.c.id, ranked.c[rank]))}


def test_rankings_by_course_number_equal_rankings_by_course_id(db_url):
    """The migration ranks by a per-course number on MySQL/MariaDB: every row gets the
    rank (and copy count) it gets when ranked by course_id, under the column's collation."""
    load_legacy(
        db_url, LegacyDataSpec(rows=400, duplicate_share=0.25, course_ids=LOOKALIKE_COURSES)
    )
    engine = get_engine(db_url)
    legacy = reflect_legacy_table(engine)
    with engine.connect() as connection:
        by_id, _ = build_selects(connection, legacy, MigrationSettings(), NOW)
        by_number = by_id.with_course_numbers(connection)
        assert (by_number.course_numbers is None) == (engine.dialect.name == "sqlite")
        if by_number.course_numbers is not None:  # the three lookalikes are one course
            numbers = by_number.course_numbers
            assert connection.execute(sa.select(sa.func.count()).select_from(numbers)).scalar() == 2
        for name, rank in (("scored_rows", "score_rank"), ("labelled_rows", "label_rank")):
            expected = _ranks(connection, getattr(by_id, name)(), rank)
            assert _ranks(connection, getattr(by_number, name)(), rank) == expected
            assert max(expected.values()) > 1  # duplicates were ranked
        newest = []
        for selects in (by_id, by_number):
            table = selects.with_newest_ids(connection).newest_ids
            newest.append(_ranks(connection, table.select().subquery(), "copies"))
        assert newest[0] == newest[1] and max(newest[0].values()) > 1
        drop_temporary_tables(connection)


def test_rerun_changes_nothing_and_says_so(monkeypatch, db_url):
    load_legacy(db_url)
    assert run_migration(monkeypatch, db_url).success
    engine = get_engine(db_url)
    before = warehouse_state(engine)
    rerun = run_migration(monkeypatch, db_url)
    assert rerun.success, rerun.failure_message()
    assert rerun.metadata("migrate_legacy_rows")["already_migrated"] is True
    assert rerun.metadata("verify_legacy_migration")["summary"].startswith(
        "already migrated, no change"
    )
    assert rerun.metadata("backup_legacy_table")["backup"] == "skipped (already migrated)"
    assert_same_state(before, warehouse_state(engine))


def test_dry_run_reports_without_writing(monkeypatch, db_url):
    frame = load_legacy(db_url)
    run = run_migration(monkeypatch, db_url, dry_run=True)
    assert run.success, run.failure_message()
    with get_engine(db_url).connect() as connection:
        assert sa.inspect(connection).get_table_names() == ["raw_data"]
    planned = run.metadata("migrate_legacy_rows")
    assert planned["rows_predictions"] == frame["fail_risk_score"].notna().sum()
    assert planned["dry_run"] is True


def test_drifting_legacy_table_unicode_and_sql_special_course_ids(monkeypatch, db_url):
    spec = LegacyDataSpec(
        rows=400,
        course_ids=TRICKY_COURSES,
        drop_columns=("h5p_time_spent_minutes", "email", "risk_level"),
        extra_columns=("legacy_cohort", "advisor_note"),
    )
    frame = load_legacy(db_url, spec, table="raw_data_2024")
    run = run_migration(monkeypatch, db_url, legacy_table="raw_data_2024")
    assert run.success, run.failure_message()
    engine = get_engine(db_url)
    assert run.metadata("migrate_legacy_rows")["missing_columns"] == (
        "email, h5p_time_spent_minutes, risk_level"
    )
    sf = s.student_features
    with engine.connect() as connection:
        courses = set(connection.execute(sa.select(s.courses.c.course_id)).scalars())
        extras = connection.execute(sa.select(sf.c.extra_features).limit(5)).scalars().all()
        names = set(connection.execute(sa.select(s.enrollments.c.full_name)).scalars())
        spent = connection.execute(
            sa.select(sa.func.count(sf.c.h5p_time_spent_minutes))
        ).scalar_one()
    assert courses == set(TRICKY_COURSES)
    for extra in extras:
        extra = json.loads(extra) if isinstance(extra, str) else extra
        assert set(extra) == {"legacy_cohort", "advisor_note"}
    assert names & set(frame["full_name"]) and any("ễ" in n or "ị" in n for n in names if n)
    assert spent == 0
    # The named dashboard queries work with the quote-laden ids as bound parameters.
    with engine.connect() as connection:
        for course_id in TRICKY_COURSES:
            stats = connection.execute(
                named_query("course_statistics"), {"course_id": course_id}
            ).one()
            assert (
                stats.total_students
                == students_page(engine, course_id, StudentsQuery()).total
                == _count(engine, sf, sf.c.course_id == course_id)
            )


def test_missing_legacy_table_is_a_clear_error(monkeypatch, db_url):
    run = run_migration(monkeypatch, db_url)
    assert not run.success
    message = run.failure_message()
    assert "'raw_data' not found in database" in message
    password = sa.make_url(db_url).password
    if password:
        assert password not in message and "***" in message


def test_scores_out_of_range_fail_before_writing(monkeypatch, db_url):
    load_legacy(db_url, LegacyDataSpec(rows=100))
    engine = get_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE raw_data SET fail_risk_score = 0.73 * 200 WHERE id = 5"))
    run = run_migration(monkeypatch, db_url)
    assert not run.success
    assert "outside 0–100" in run.failure_message()
    assert _count(engine, s.student_features) == 0
    assert _count(engine, s.predictions) == 0


def test_levels_that_contradict_their_score_are_relevelled_and_counted(monkeypatch, db_url):
    load_legacy(db_url, LegacyDataSpec(rows=100))
    engine = get_engine(db_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE raw_data SET fail_risk_score = 95, risk_level = 'LOW' WHERE id IN (3, 4)"
            )
        )
    run = run_migration(monkeypatch, db_url)
    assert run.success, run.failure_message()
    summary = run.metadata("verify_legacy_migration")["summary"]
    assert "(2 risk levels re-levelled from their score)" in summary
    with engine.connect() as connection:
        levels = connection.execute(
            sa.select(s.predictions.c.risk_level).where(s.predictions.c.fail_risk_score == 95)
        ).scalars()
        assert set(levels) == {"HIGH"}


def test_verification_catches_lost_rows(monkeypatch, db_url):
    load_legacy(db_url, LegacyDataSpec(rows=200))
    assert run_migration(monkeypatch, db_url).success
    engine = get_engine(db_url)
    with engine.begin() as connection:
        victim = connection.execute(sa.select(sa.func.max(s.predictions.c.id))).scalar_one()
        connection.execute(sa.delete(s.predictions).where(s.predictions.c.id == victim))
    run = run_migration(monkeypatch, db_url)
    assert not run.success
    assert "verification failed" in run.failure_message()


def test_legacy_model_registered_active_and_default_when_file_exists(monkeypatch, db_url, tmp_path):
    features = ["mooc_grade_percentage", "mooc_completion_rate", "days_since_last_activity"]
    stored = LocalModelStore(tmp_path).save("fm101_v4", "1", fit_model(features), features, {})
    model_file = stored.model_path
    load_legacy(db_url, LegacyDataSpec(rows=50))
    run = run_migration(monkeypatch, db_url, legacy_model_path=str(model_file))
    assert run.success
    meta = run.metadata("register_legacy_model_op")
    assert meta["is_active"] is True and meta["is_default"] is True


def test_unusable_model_file_registers_inactive_with_the_reason(monkeypatch, db_url, tmp_path):
    model_file = tmp_path / "model.cbm"
    model_file.write_bytes(b"not a CatBoost model")
    load_legacy(db_url, LegacyDataSpec(rows=50))
    run = run_migration(monkeypatch, db_url, legacy_model_path=str(model_file))
    assert run.success, run.failure_message()
    meta = run.metadata("register_legacy_model_op")
    assert meta["is_active"] is False and meta["is_default"] is False
    assert any("INACTIVE" in message for message in run.logs())


def test_missing_model_file_registers_inactive_with_warning(monkeypatch, db_url, tmp_path):
    load_legacy(db_url, LegacyDataSpec(rows=50))
    run = run_migration(monkeypatch, db_url, legacy_model_path=str(tmp_path / "absent.cbm"))
    assert run.success
    meta = run.metadata("register_legacy_model_op")
    assert meta["is_active"] is False and meta["is_default"] is False
    assert any("not found" in message and "INACTIVE" in message for message in run.logs())


def test_raw_data_v2_view_rebuilds_the_legacy_shape(monkeypatch, db_url):
    frame = load_legacy(db_url, LegacyDataSpec(rows=200))
    assert run_migration(monkeypatch, db_url).success
    with get_engine(db_url).connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM raw_data_v2")).mappings().all()
    assert len(rows) == frame.drop_duplicates(["user_id", "course_id"]).shape[0]
    assert {"fail_risk_score", "risk_level", "is_passed", "semester", "username"} <= set(rows[0])
    assert all(row["fail_risk_score"] is not None for row in rows)
