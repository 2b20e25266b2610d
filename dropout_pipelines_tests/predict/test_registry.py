"""The registry API on SQLite and MariaDB: every change atomic, every refusal clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from dropout_pipelines.predict.model_store import features_csv_text
from dropout_pipelines.predict.registry import (
    RegistryError,
    activate,
    deactivate,
    list_mappings,
    list_models,
    map_course,
    register_model,
    set_default,
)
from dropout_pipelines_tests.predict.conftest import DEFAULT_FEATURES

COURSE = "course-v1:DHQG-HCM+FM101+2025_S2"
OTHER_COURSE = "course-v1:UEL+NLTT241225+2025_12"


def _register_stored(engine, stored, **options):
    return register_model(
        engine, stored.name, stored.version, stored.model_path, stored.features_csv_path, **options
    )


def test_register_validates_and_lists(warehouse, stored_model):
    stored = stored_model("fm101", "1")
    change = _register_stored(
        warehouse,
        stored,
        domain="finance",
        metrics={"auc": 0.81, "accuracy": 0.77, "per_week_auc": {"3": 0.7}},
        trained_on=["2025_S1", "2025_S2"],
        training_rows=300,
        run_id="run-1",
    )
    assert change.changed and "registered model fm101 version 1" in change.summary
    assert "5 features" in change.summary

    models = list_models(warehouse)
    assert len(models) == 1
    row = models.iloc[0]
    assert (row.model_name, row.model_version, row.model_type) == ("fm101", "1", "fail")
    assert bool(row.is_active) and not bool(row.is_default)
    assert row.accuracy == pytest.approx(0.77)
    assert row.metrics["per_week_auc"] == {"3": 0.7}
    assert list(row.trained_on) == ["2025_S1", "2025_S2"]
    assert row.training_rows == 300 and row.run_id == "run-1"
    assert Path(row.model_path) == stored.model_path and Path(row.model_path).is_absolute()
    assert Path(row.features_csv_path) == stored.features_csv_path


def test_register_from_the_store_and_as_default(
    warehouse, stored_model, model_store, default_models
):
    stored_model("fm101", "1")
    stored_model("fm101", "2", seed=2)
    register_model(warehouse, "fm101", "1", store=model_store, make_default=True)
    assert default_models(warehouse) == [("fm101", "1")]

    change = register_model(warehouse, "fm101", "2", store=model_store, make_default=True)
    assert "now the default model (was model fm101 version 1)" in change.summary
    assert default_models(warehouse) == [("fm101", "2")]
    # A model the store holds is registered by its store key, not a file path.
    rows = list_models(warehouse).set_index("model_version")
    assert rows.loc["2", "model_path"] == model_store.key("fm101", "2") == "fm101/2"
    assert rows.loc["2", "features_csv_path"] is None


def test_features_csv_defaults_to_the_file_next_to_the_model(warehouse, stored_model):
    stored = stored_model("fm101", "1")
    register_model(warehouse, "fm101", "1", str(stored.model_path))
    assert Path(list_models(warehouse).iloc[0].features_csv_path) == stored.features_csv_path


def test_set_default_switches_atomically(warehouse, stored_model, default_models):
    for version in ("1", "2", "3"):
        _register_stored(warehouse, stored_model("fm101", version), make_default=version == "1")
    for version in ("2", "3", "1", "3"):
        change = set_default(warehouse, "fm101", version)
        assert change.changed
        assert default_models(warehouse) == [("fm101", version)]
    again = set_default(warehouse, "fm101", "3")
    assert not again.changed and "already the default" in again.summary
    assert default_models(warehouse) == [("fm101", "3")]


@pytest.fixture
def populated(warehouse, stored_model, tmp_path):
    """Two active versions (1 is default), an inactive one, and a mapped course."""
    _register_stored(warehouse, stored_model("fm101", "1"), make_default=True)
    _register_stored(warehouse, stored_model("fm101", "2", seed=2))
    _register_stored(warehouse, stored_model("old", "1", seed=3), active=False)
    map_course(warehouse, COURSE, "fm101", "2")
    return warehouse


def _misuse_cases(engine, stored_model, tmp_path):
    """(what, call, message) for every refused change."""
    stored = stored_model("fm101", "9", seed=9)
    disagree = tmp_path / "disagree.csv"
    disagree.write_text(features_csv_text([*DEFAULT_FEATURES, "week_of_course"]))
    reordered = tmp_path / "reordered.csv"
    reordered.write_text(features_csv_text(list(reversed(DEFAULT_FEATURES))))
    garbage = tmp_path / "garbage.cbm"
    garbage.write_bytes(b"not a model")

    def register(
        version="9", model_path=stored.model_path, features=stored.features_csv_path, **options
    ):
        return lambda: register_model(engine, "fm101", version, model_path, features, **options)

    return [
        (
            "unknown model as default",
            lambda: set_default(engine, "nope", "1"),
            "model nope version 1 is not registered.*no model named nope.*registered models: "
            "fm101, old",
        ),
        (
            "unknown version as default",
            lambda: set_default(engine, "fm101", "7"),
            "model fm101 version 7 is not registered.*registered versions of fm101: 1, 2",
        ),
        (
            "inactive model as default",
            lambda: set_default(engine, "old", "1"),
            "inactive and cannot be the default.*activate old 1",
        ),
        (
            "missing model file",
            register(model_path=tmp_path / "absent.cbm"),
            "cannot register model fm101 version 9: model file .*absent.cbm not found",
        ),
        (
            "unreadable model file",
            register(model_path=garbage),
            "cannot read CatBoost model .*garbage.cbm",
        ),
        (
            "missing feature list",
            register(features=tmp_path / "absent.csv"),
            "feature list .*absent.csv not found",
        ),
        (
            "features.csv disagrees",
            register(features=disagree),
            "disagrees with the model's feature names.*week_of_course",
        ),
        ("feature order differs", register(features=reordered), "another order"),
        (
            "duplicate version",
            register(version="1"),
            "model fm101 version 1 is already registered.*register a new version",
        ),
        (
            "inactive default",
            register(make_default=True, active=False),
            "cannot be the default and inactive",
        ),
        ("bad metrics", register(metrics={"auc": float("nan")}), "metrics must be JSON"),
        ("bad training_rows", register(training_rows=-1), "training_rows"),
        (
            "no files at all",
            lambda: register_model(engine, "fm101", "9"),
            "no model file for model fm101 version 9",
        ),
        (
            "unsafe name",
            lambda: register_model(engine, "../x", "1", stored.model_path),
            "model name '../x'",
        ),
        (
            "map to unknown model",
            lambda: map_course(engine, OTHER_COURSE, "nope"),
            "model nope is not registered",
        ),
        (
            "map to unknown version",
            lambda: map_course(engine, OTHER_COURSE, "fm101", "7"),
            "model fm101 version 7 is not registered",
        ),
        (
            "map to inactive version",
            lambda: map_course(engine, OTHER_COURSE, "old", "1"),
            "model old version 1 is inactive",
        ),
        (
            "map to a name without active version",
            lambda: map_course(engine, OTHER_COURSE, "old"),
            "model old has no active version",
        ),
        (
            "inactive shadow",
            lambda: map_course(engine, COURSE, "fm101", shadow_model_name="old"),
            "shadow model old has no active version",
        ),
        (
            "unknown A/B model",
            lambda: map_course(engine, COURSE, "fm101", ab_model_name="nope", ab_share=0.2),
            "model nope is not registered",
        ),
        (
            "bad frequency",
            lambda: map_course(engine, COURSE, "fm101", frequency="monthly"),
            "frequency: 'monthly' is not one of 'hourly', 'daily', 'weekly' or 'manual'",
        ),
        (
            "ab_share without ab model",
            lambda: map_course(engine, COURSE, "fm101", ab_share=0.3),
            "ab_share is set without ab_model_name",
        ),
        (
            "ab model without share",
            lambda: map_course(engine, COURSE, "fm101", ab_model_name="fm101"),
            "needs ab_share",
        ),
        (
            "ab_share out of range",
            lambda: map_course(engine, COURSE, "fm101", ab_model_name="fm101", ab_share=1.0),
            "strictly between 0 and 1",
        ),
        ("empty course id", lambda: map_course(engine, "", "fm101"), "course_id"),
        (
            "deactivate the default",
            lambda: deactivate(engine, "fm101", "1"),
            "is the default model: make another model the default first",
        ),
        ("deactivate unknown", lambda: deactivate(engine, "fm101", "7"), "not registered"),
        ("activate unknown", lambda: activate(engine, "nope", "1"), "not registered"),
    ]


def test_misuse_is_refused_clearly_and_changes_nothing(populated, stored_model, tmp_path, snapshot):
    before = snapshot(populated)
    assert len(before["model_registry"]) == 3 and len(before["course_model_mapping"]) == 1
    for what, call, message in _misuse_cases(populated, stored_model, tmp_path):
        with pytest.raises(RegistryError, match=message):
            call()
        assert snapshot(populated) == before, f"{what} changed the registry"


def test_forced_deactivation_of_the_default_leaves_no_default(populated, default_models):
    change = deactivate(populated, "fm101", "1", force=True)
    assert change.changed
    assert any("there is now NO default" in warning for warning in change.warnings)
    assert default_models(populated) == []
    row = list_models(populated).set_index(["model_name", "model_version"]).loc[("fm101", "1")]
    assert not row.is_active and not row.is_default


def test_deactivation_warns_about_courses_that_lose_their_model(populated):
    map_course(populated, OTHER_COURSE, "fm101")  # newest active version
    change = deactivate(populated, "fm101", "2")
    assert change.summary == "model fm101 version 2 is now inactive"
    assert change.warnings == (
        f"1 course mapping(s) now fall back to the default model: {COURSE}",
    )  # OTHER_COURSE still resolves to version 1
    assert not deactivate(populated, "fm101", "2").changed


def test_activate_checks_the_files_again(populated, tmp_path):
    change = activate(populated, "old", "1")
    assert change.changed
    assert list_models(populated).set_index("model_name").loc["old"].is_active
    deactivate(populated, "old", "1")
    path = Path(list_models(populated).set_index("model_name").loc["old"].model_path)
    path.unlink()
    with pytest.raises(RegistryError, match="cannot activate model old version 1: .*not found"):
        activate(populated, "old", "1")


def test_map_course_upserts_one_row_per_course(populated):
    change = map_course(
        populated,
        COURSE,
        "fm101",
        frequency="weekly",
        auto_predict=False,
        shadow_model_name="fm101",
        ab_model_name="fm101",
        ab_share=0.25,
    )
    assert "(was fm101 2)" in change.summary and "25%" in change.summary
    assert any("not in the courses table" in warning for warning in change.warnings)
    mappings = list_mappings(populated)
    assert len(mappings) == 1
    row = mappings.iloc[0]
    assert row.course_id == COURSE and row.model_version is None
    assert (row.predict_frequency, bool(row.auto_predict)) == ("weekly", False)
    assert (row.shadow_model_name, row.ab_model_name) == ("fm101", "fm101")
    assert row.ab_share == pytest.approx(0.25)

    map_course(populated, OTHER_COURSE, "fm101", "1", frequency="hourly")
    assert list(list_mappings(populated).course_id) == sorted([COURSE, OTHER_COURSE])


def test_empty_registry_lists_empty_frames(warehouse):
    assert list_models(warehouse).empty and "model_name" in list_models(warehouse).columns
    assert list_mappings(warehouse).empty and "course_id" in list_mappings(warehouse).columns
