"""The local model store and the model-file loader, with real CatBoost models."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dropout_pipelines.predict.model_store import (
    LocalModelStore,
    ModelStoreError,
    features_csv_text,
    load_model_file,
)
from dropout_pipelines_tests.predict.conftest import DEFAULT_FEATURES, training_frame

FEATURES = list(DEFAULT_FEATURES)


def _files(root) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_save_writes_the_layout_and_load_gives_the_same_model(model_store, trained_model):
    model = trained_model()
    stored = model_store.save("fm101", "3", model, FEATURES, {"auc": 0.8, "semesters": ["S1"]})

    assert stored.directory == model_store.root / "fm101" / "3"
    assert stored.model_path == model_store.model_path("fm101", "3")
    assert _files(model_store.root) == [
        "fm101",
        "fm101/3",
        "fm101/3/features.csv",
        "fm101/3/metadata.json",
        "fm101/3/model.cbm",
    ]
    lines = stored.features_csv_path.read_text().splitlines()
    assert lines == ["feature", *FEATURES]
    assert json.loads(stored.metadata_path.read_text()) == {"auc": 0.8, "semesters": ["S1"]}
    assert model_store.exists("fm101", "3") and not model_store.exists("fm101", "4")

    loaded = model_store.load("fm101", "3")
    assert loaded.features == FEATURES
    assert loaded.metadata == {"auc": 0.8, "semesters": ["S1"]}
    frame, _ = training_frame()
    np.testing.assert_allclose(loaded.model.predict_proba(frame), model.predict_proba(frame))


def test_an_existing_version_is_never_overwritten(model_store, trained_model):
    first = model_store.save("fm101", "1", trained_model(seed=1), FEATURES, {"n": 1})
    before = first.model_path.read_bytes()
    with pytest.raises(ModelStoreError, match="already exists.*immutable"):
        model_store.save("fm101", "1", trained_model(seed=2), FEATURES, {"n": 2})
    assert first.model_path.read_bytes() == before
    assert json.loads(first.metadata_path.read_text()) == {"n": 1}
    assert _files(model_store.root / "fm101") == [
        "1",
        "1/features.csv",
        "1/metadata.json",
        "1/model.cbm",
    ]


@pytest.mark.parametrize(
    ("features", "metadata", "message"),
    [
        (FEATURES[:-1], {}, "missing \\['days_since_last_activity'\\]"),
        ([*FEATURES, "week_of_course"], {}, "not in the model \\['week_of_course'\\]"),
        (list(reversed(FEATURES)), {}, "another order"),
        (FEATURES, {"auc": float("nan")}, "not JSON"),
        (FEATURES, {"when": object()}, "not JSON"),
    ],
)
def test_a_refused_save_leaves_nothing_behind(
    model_store, trained_model, features, metadata, message
):
    with pytest.raises(ModelStoreError, match=message):
        model_store.save("fm101", "1", trained_model(), features, metadata)
    assert not model_store.exists("fm101", "1")
    assert not model_store.root.exists() or _files(model_store.root) in ([], ["fm101"])


def test_a_failed_write_leaves_no_half_model(model_store, trained_model, monkeypatch):
    def broken_rename(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "rename", broken_rename)
    with pytest.raises(ModelStoreError):
        model_store.save("fm101", "1", trained_model(), FEATURES, {})
    assert _files(model_store.root) == ["fm101"]  # no version folder, no temp folder


@pytest.mark.parametrize(
    "name", ["", "../escape", "a/b", ".hidden", "x" * 129, "sp ace", "fm101\n", "fm101\n\n"]
)
def test_unsafe_names_are_refused(model_store, trained_model, name):
    with pytest.raises(ModelStoreError, match="model name"):
        model_store.save(name, "1", trained_model(), FEATURES, {})
    with pytest.raises(ModelStoreError, match="model version"):
        model_store.model_path("fm101", name or " ")


def test_load_of_a_missing_version_names_the_expected_file(model_store):
    with pytest.raises(ModelStoreError, match="fm101 version 9 is not in the store.*model.cbm"):
        model_store.load("fm101", "9")


def test_loads_are_cached_and_a_replaced_file_is_reloaded(model_store, trained_model):
    stored = model_store.save("fm101", "1", trained_model(seed=1), FEATURES, {})
    first = model_store.load("fm101", "1")
    assert model_store.load("fm101", "1").model is first.model  # cached

    trained_model(seed=2).save_model(str(stored.model_path))
    stat = stored.model_path.stat()
    os.utime(stored.model_path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = model_store.load("fm101", "1")
    assert second.model is not first.model
    frame, _ = training_frame()
    assert not np.allclose(second.model.predict_proba(frame), first.model.predict_proba(frame))


def test_callers_get_their_own_features_and_metadata(model_store, stored_model):
    stored_model(metadata={"auc": 0.8})
    loaded = model_store.load("fm101", "1")
    loaded.features.append("junk")
    loaded.metadata["auc"] = 0
    again = model_store.load("fm101", "1")
    assert again.features == FEATURES and again.metadata == {"auc": 0.8}


def test_load_model_file_reads_arbitrary_paths(tmp_path, trained_model):
    model_file = tmp_path / "legacy" / "fm101_v4.cbm"
    model_file.parent.mkdir()
    trained_model().save_model(str(model_file))
    headerless = tmp_path / "legacy" / "columns.txt"
    headerless.write_text("\n".join(FEATURES) + "\n")

    assert load_model_file(str(model_file), str(headerless)).features == FEATURES
    assert load_model_file(model_file).features == FEATURES  # the model's own names
    assert load_model_file(model_file).metadata == {}


def test_load_model_file_errors_are_clear(tmp_path, trained_model):
    model_file = tmp_path / "model.cbm"
    trained_model().save_model(str(model_file))
    features = tmp_path / "features.csv"

    with pytest.raises(ModelStoreError, match=f"model file {tmp_path / 'absent.cbm'} not found"):
        load_model_file(tmp_path / "absent.cbm", features)

    garbage = tmp_path / "garbage.cbm"
    garbage.write_bytes(b"not a catboost model")
    with pytest.raises(ModelStoreError, match="cannot read CatBoost model .*garbage.cbm"):
        load_model_file(garbage)

    with pytest.raises(ModelStoreError, match="feature list .*features.csv not found"):
        load_model_file(model_file, features)

    features.write_text(features_csv_text([*FEATURES[:3], "extra", *FEATURES[3:]]))
    with pytest.raises(ModelStoreError, match="disagrees.*not in the model \\['extra'\\]"):
        load_model_file(model_file, features)

    swapped = [FEATURES[1], FEATURES[0], *FEATURES[2:]]
    features.write_text(features_csv_text(swapped))
    with pytest.raises(ModelStoreError, match="another order"):
        load_model_file(model_file, features)

    features.write_text("feature,importance\nmooc_grade_percentage,0.3\n")
    with pytest.raises(ModelStoreError, match="one feature name per line"):
        load_model_file(model_file, features)

    features.write_text("feature\n")
    with pytest.raises(ModelStoreError, match="is empty"):
        load_model_file(model_file, features)


def test_features_csv_round_trips_names_that_need_quoting(tmp_path, trained_model):
    odd = ["grade, final", 'say "hi"', "plain"]
    store = LocalModelStore(tmp_path)
    stored = store.save("odd", "1", trained_model(features=odd), odd, {})
    assert store.load("odd", "1").features == odd
    assert stored.features_csv_path.read_text().splitlines()[0] == "feature"
