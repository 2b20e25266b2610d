"""Model selection: the pure rules, then the same rules read from a real registry."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from dropout_pipelines.predict.registry import deactivate, map_course, register_model, set_default
from dropout_pipelines.predict.selection import (
    MappingRow,
    ModelRow,
    NoModelError,
    choose_model,
    newest_version,
    resolve_model_for_course,
    version_sort_key,
)

COURSE = "course-v1:DHQG-HCM+FM101+2025_S2"
T0 = datetime(2025, 9, 1, 8, 0)


def _row(name, version, minutes=0, default=False, row_id=0):
    return ModelRow(
        name,
        version,
        f"/m/{name}/{version}/model.cbm",
        f"/m/{name}/{version}/features.csv",
        T0 + timedelta(minutes=minutes),
        default,
        row_id,
    )


def test_versions_compare_as_numbers_where_they_are_numbers():
    ordered = ["1", "2", "9", "10", "v2.9", "v2.10"]
    assert sorted(reversed(ordered), key=version_sort_key) == ordered


def test_newest_version_is_latest_created_then_highest_version():
    rows = [_row("fm", "10", 0), _row("fm", "9", 0), _row("fm", "2", 5), _row("other", "99", 9)]
    assert newest_version(rows, "fm").model_version == "2"  # created last
    assert newest_version(rows[:2], "fm").model_version == "10"  # same time: 10 > 9
    assert newest_version(rows, "absent") is None


def test_mapping_wins_when_its_model_is_active():
    active = [_row("fm", "1", default=True), _row("fm", "2", 1), _row("ch", "1"), _row("ab", "3")]
    pinned = choose_model(COURSE, MappingRow(COURSE, "fm", "1"), active)
    assert (pinned.label, pinned.source, pinned.notes) == ("fm:1", "mapping", ())

    mapping = MappingRow(
        COURSE, "fm", None, shadow_model_name="ch", ab_model_name="ab", ab_share=0.2
    )
    choice = choose_model(COURSE, mapping, active)
    assert (choice.label, choice.source) == ("fm:2", "mapping")
    assert choice.model_path == "/m/fm/2/model.cbm"
    assert choice.shadow.label == "ch:1"
    assert choice.ab[0].label == "ab:3" and choice.ab[1] == 0.2


def test_inactive_mapping_falls_back_to_the_default_and_says_why():
    active = [_row("base", "1", default=True)]
    mapping = MappingRow(COURSE, "fm", "3", shadow_model_name="base")
    choice = choose_model(COURSE, mapping, active)
    assert (choice.label, choice.source) == ("base:1", "default")
    assert choice.shadow is None and choice.ab is None
    assert "mapped to fm version 3, which is not an active model" in choice.notes[0]


def test_missing_challengers_are_skipped_with_a_note():
    active = [_row("fm", "1")]
    mapping = MappingRow(
        COURSE, "fm", None, shadow_model_name="gone", ab_model_name="gone2", ab_share=0.5
    )
    choice = choose_model(COURSE, mapping, active)
    assert choice.shadow is None and choice.ab is None
    assert len(choice.notes) == 2 and "gone" in choice.notes[0]


@pytest.mark.parametrize(
    ("mapping", "why"),
    [
        (None, "has no course_model_mapping row and there is no default model"),
        (MappingRow(COURSE, "fm", None), "mapped to fm (newest active version), which is not"),
    ],
)
def test_no_model_names_the_course_and_the_fix(mapping, why):
    with pytest.raises(NoModelError) as error:
        choose_model(COURSE, mapping, [_row("other", "1")])
    message = str(error.value)
    assert f"no model for course {COURSE}" in message and why in message
    assert "dropout-registry set-default NAME VERSION" in message
    assert f"dropout-registry map {COURSE} NAME" in message


def test_resolve_reads_the_registry(warehouse, stored_model, model_store):
    with pytest.raises(NoModelError, match=re.escape(COURSE)):
        resolve_model_for_course(warehouse, COURSE)

    for version, seed in (("1", 1), ("2", 2)):
        stored_model("fm101", version, seed=seed)
        register_model(
            warehouse, "fm101", version, store=model_store, now=T0 + timedelta(hours=int(version))
        )
    stored_model("base", "1", seed=3)
    register_model(warehouse, "base", "1", store=model_store, make_default=True)

    choice = resolve_model_for_course(warehouse, COURSE)
    assert (choice.label, choice.source) == ("base:1", "default")
    assert choice.model_path == model_store.key("base", "1")

    map_course(warehouse, COURSE, "fm101", shadow_model_name="base")
    with warehouse.connect() as connection:  # a connection works as well as an engine
        choice = resolve_model_for_course(connection, COURSE)
    assert (choice.label, choice.source, choice.shadow.label) == ("fm101:2", "mapping", "base:1")
    # a stored model's row is its store key; the store knows its feature list
    assert (choice.model_path, choice.features_csv_path) == ("fm101/2", None)

    deactivate(warehouse, "fm101", "2")
    assert resolve_model_for_course(warehouse, COURSE).label == "fm101:1"  # newest ACTIVE

    deactivate(warehouse, "fm101", "1")
    fallback = resolve_model_for_course(warehouse, COURSE)
    assert (fallback.label, fallback.source) == ("base:1", "default")
    assert fallback.notes

    deactivate(warehouse, "base", "1", force=True)
    with pytest.raises(NoModelError, match="mapped to fm101 \\(newest active version\\)"):
        resolve_model_for_course(warehouse, COURSE)


def test_the_default_serves_unmapped_courses_after_a_switch(warehouse, stored_model, model_store):
    for name in ("a", "b"):
        stored_model(name, "1")
        register_model(warehouse, name, "1", store=model_store)
    set_default(warehouse, "a", "1")
    assert resolve_model_for_course(warehouse, "course-v1:X+Y+Z").label == "a:1"
    set_default(warehouse, "b", "1")
    assert resolve_model_for_course(warehouse, "course-v1:X+Y+Z").label == "b:1"
