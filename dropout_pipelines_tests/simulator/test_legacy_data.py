"""The legacy `raw_data` generator: realistic, deterministic, and faithful when written (SQLite).

The migration's tests trust this table to contain every awkward case a real v1 table has, so
these tests pin the awkward cases down, not only the happy shape.
"""

from __future__ import annotations

import math
import unicodedata

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from dropout_pipelines.simulator.legacy_data import (
    DEFAULT_COURSE_IDS,
    SQL_SPECIAL_COURSE_ID,
    LegacyDataSpec,
    generate_raw_data,
    main,
    summarize,
    write_raw_data,
)
from dropout_pipelines.warehouse.legacy_schema import LEGACY_COLUMN_NAMES

FEATURES = ["mooc_grade_percentage", "mooc_completion_rate", "h5p_total_score", "h5p_max_score"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_raw_data(LegacyDataSpec())


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'legacy.sqlite'}")
    yield engine
    engine.dispose()


def _read_back(engine: sa.Engine, table: str = "raw_data") -> dict[str, list[object]]:
    """Column name -> the raw values the driver returns, in id order (no pandas coercion)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(reflected).order_by(reflected.c.id)).all()
    names = list(reflected.c.keys())
    return {name: [row[index] for row in rows] for index, name in enumerate(names)}


def test_same_seed_same_table_other_seed_other_table():
    spec = LegacyDataSpec(rows=500)
    pd.testing.assert_frame_equal(generate_raw_data(spec), generate_raw_data(spec))
    other = generate_raw_data(LegacyDataSpec(rows=500, seed=8))
    assert not other["full_name"].equals(generate_raw_data(spec)["full_name"])


def test_default_shape_column_order_and_ids(frame):
    assert len(frame) == 984
    assert list(frame.columns) == [*LEGACY_COLUMN_NAMES, "legacy_cohort"]
    assert frame["id"].tolist() == list(range(1, 985))
    assert sorted(frame["course_id"].unique()) == sorted(DEFAULT_COURSE_IDS[:3])
    assert SQL_SPECIAL_COURSE_ID not in set(frame["course_id"])


def test_dropped_and_extra_columns_are_honoured_without_changing_the_rest(frame):
    spec = LegacyDataSpec(
        drop_columns=("h5p_time_spent_minutes", "email"),
        extra_columns=("legacy_cohort", "attendance_rate", "advisor"),
    )
    drifted = generate_raw_data(spec)
    expected = [c for c in LEGACY_COLUMN_NAMES if c not in spec.drop_columns]
    assert list(drifted.columns) == [*expected, "legacy_cohort", "attendance_rate", "advisor"]
    pd.testing.assert_frame_equal(drifted[expected], frame[expected])
    assert pd.api.types.is_float_dtype(drifted["attendance_rate"])
    for name in spec.extra_columns:
        assert 0 < drifted[name].isna().sum() < len(drifted) * 0.2


def test_bad_specs_are_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="drop_columns"):
        LegacyDataSpec(drop_columns=("no_such_column",))
    with pytest.raises(ValueError, match="extra column"):
        LegacyDataSpec(extra_columns=("user_id",))
    with pytest.raises(ValueError, match="unlabelled_share"):
        LegacyDataSpec(unlabelled_share=1.5)


def test_about_six_percent_unlabelled_and_labels_all_null_together(frame):
    unlabelled = frame["is_passed"].isna()
    assert unlabelled.mean() == pytest.approx(0.06, abs=0.005)
    assert (frame["is_dropout"].isna() == unlabelled).all()
    assert (frame["final_grade"].isna() == unlabelled).all()
    labelled = frame[~unlabelled]
    assert not ((labelled["is_dropout"] == 1) & (labelled["is_passed"] == 1)).any()
    assert summarize(frame).unlabelled == int(unlabelled.sum())


def test_duplicates_share_a_key_have_an_older_update_and_other_values(frame):
    keys = ["user_id", "course_id"]
    duplicated = frame[frame.duplicated(keys, keep=False)]
    groups = duplicated.groupby(keys)
    assert groups.ngroups == summarize(frame).duplicated_keys == round(984 * 0.02)
    for _, group in groups:
        assert len(group) == 2
        older, newer = group.sort_values("updated_at").to_dict("records")
        assert older["updated_at"] < newer["updated_at"]
        assert older["created_at"] <= older["updated_at"]
        assert any(older[c] != newer[c] for c in FEATURES if pd.notna(older[c]))
    unique = frame.drop_duplicates(keys)
    assert len(unique) == len(frame) - groups.ngroups


def test_values_are_in_range_and_consistent(frame):
    assert frame["mooc_grade_percentage"].dropna().between(0, 100).all()
    assert frame["mooc_completion_rate"].dropna().between(0, 1).all()
    assert frame["fail_risk_score"].between(0, 100).all()
    assert (frame["updated_at"] >= frame["created_at"]).all()
    assert frame["created_at"].dt.year.eq(2025).all() and frame["updated_at"].dt.year.eq(2025).all()
    assert (frame["predicted_at"] <= frame["updated_at"]).all()
    graded = frame.dropna(subset=["mooc_grade_percentage", "mooc_letter_grade"])
    fails = graded["mooc_letter_grade"] == "F"
    assert (graded.loc[fails, "mooc_grade_percentage"] < 40).all()
    assert (graded.loc[graded["mooc_letter_grade"] == "A", "mooc_grade_percentage"] >= 85).all()
    for column in ["mooc_grade_percentage", "h5p_total_score", "days_since_last_activity"]:
        assert 0.005 < frame[column].isna().mean() < 0.05


def test_risk_level_follows_the_score(frame):
    score = frame["fail_risk_score"]
    expected = np.where(score >= 70, "HIGH", np.where(score >= 40, "MEDIUM", "LOW"))
    assert (frame["risk_level"].to_numpy() == expected).all()
    assert set(frame["risk_level"]) == {"LOW", "MEDIUM", "HIGH"}


def test_partly_scored_tables_leave_score_level_and_time_null_together():
    partial = generate_raw_data(LegacyDataSpec(rows=400, scored_share=0.5))
    unscored = partial["fail_risk_score"].isna()
    assert unscored.sum() == 200
    assert (partial["risk_level"].isna() == unscored).all()
    assert (partial["predicted_at"].isna() == unscored).all()


def test_names_are_vietnamese_with_diacritics_and_usernames_ascii(frame):
    assert frame["full_name"].str.contains("Nguyễn").any()
    decomposed = frame["full_name"].map(lambda name: unicodedata.normalize("NFD", name))
    has_marks = decomposed.map(lambda name: any(unicodedata.combining(c) for c in name))
    assert has_marks.mean() > 0.8
    assert frame["username"].map(str.isascii).all()
    assert frame["email"].str.fullmatch(r"[a-z0-9.]+@[a-z.]+").all()


def test_semester_is_the_run_of_the_course_or_null(frame):
    known = frame.dropna(subset=["semester"])
    assert (known["semester"] == known["course_id"].str.rsplit("+", n=1).str[-1]).all()
    assert 0.005 < frame["semester"].isna().mean() < 0.07


def test_write_and_read_back_keeps_every_value_and_null(engine):
    spec = LegacyDataSpec(rows=300, extra_columns=("legacy_cohort", "attendance_rate"))
    frame = generate_raw_data(spec)
    assert write_raw_data(engine, frame, chunk_rows=64) == 300
    back = _read_back(engine)
    assert list(back) == list(frame.columns)
    for column in frame.columns:
        expected, actual = frame[column].tolist(), back[column]
        assert sum(value is None for value in actual) == frame[column].isna().sum(), column
        for left, right in zip(expected, actual, strict=True):
            if pd.isna(left):
                assert right is None, (column, left, right)
            elif isinstance(left, float):
                assert math.isclose(left, right), column
            else:
                assert left == right, (column, left, right)


def test_write_replaces_an_existing_table(engine):
    write_raw_data(engine, generate_raw_data(LegacyDataSpec(rows=50)))
    write_raw_data(engine, generate_raw_data(LegacyDataSpec(rows=20, extra_columns=())))
    back = _read_back(engine)
    assert len(back["id"]) == 20
    assert "legacy_cohort" not in back


def test_sql_special_course_id_round_trips(engine):
    course_ids = (SQL_SPECIAL_COURSE_ID, "course-v1:UEL+NLTT241225+2025_12")
    frame = generate_raw_data(LegacyDataSpec(rows=120, course_ids=course_ids))
    write_raw_data(engine, frame, table_name="raw_data_special")
    expected = int((frame["course_id"] == SQL_SPECIAL_COURSE_ID).sum())
    assert expected > 0
    with engine.connect() as connection:
        count = connection.execute(
            sa.text("SELECT COUNT(*) FROM raw_data_special WHERE course_id = :course"),
            {"course": SQL_SPECIAL_COURSE_ID},
        ).scalar_one()
    assert count == expected
    semesters = set(_read_back(engine, "raw_data_special")["semester"]) - {None}
    assert semesters == {"2025_S1", "2025_12"}


def test_cli_writes_and_prints_one_masked_line(tmp_path, capsys):
    target = tmp_path / "cli" / "legacy.sqlite"
    code = main(["--db-url", f"sqlite:///{target}", "--rows", "100", "--drop-column", "email"])
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("raw_data: 100 rows over 3 courses (2 duplicated keys, 6 unlabelled)")
    assert line.endswith(f"-> sqlite:///{target}")
    engine = sa.create_engine(f"sqlite:///{target}")
    try:
        assert "email" not in _read_back(engine)
    finally:
        engine.dispose()
