"""LrsClient against the simulator's xAPI LRS: `more` paging, `since` cursors, actor
mapping (username, e-mail, external id), durations, H5P detection and failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
import requests

from dropout_pipelines.ingest.clients import frame_schemas as frames
from dropout_pipelines.ingest.clients.actors import ActorResolver, load_external_id_map
from dropout_pipelines.ingest.clients.errors import OpenEdxAuthError, PayloadError
from dropout_pipelines.ingest.clients.lrs import LrsClient, batched, max_stored, xapi_timestamp
from dropout_pipelines.ingest.clients.xapi import parse_durations, verb_names
from dropout_pipelines.simulator.openedx import RunningSimulator
from dropout_pipelines.simulator.openedx.activity import K_H5P_INTERACTED, K_H5P_SCORED
from dropout_pipelines_tests.ingest.conftest import (
    ENDED_COURSE,
    RUNNING_COURSE,
    SIM_CREDENTIALS,
    SPECIAL_COURSE,
)

HANOI = timezone(timedelta(hours=7))


def course_rows(simulator: RunningSimulator, course_id: str) -> np.ndarray:
    """The simulator's statement-table rows of a course (ground truth)."""
    course = simulator.data.course(course_id)
    return simulator.data.statements.by_course[course.info.index]


def enrolled_usernames(simulator: RunningSimulator, course_id: str) -> set[str]:
    course = simulator.data.course(course_id)
    return {simulator.data.users.username(int(u)) for u in course.activity.user}


def external_id_map(simulator: RunningSimulator, usernames: list[str]) -> dict[str, str]:
    """external id → username, as a deployment would export it (here: the simulator's
    staff-only helper endpoint, 100 usernames a call)."""
    mapping: dict[str, str] = {}
    for start in range(0, len(usernames), 100):
        batch = usernames[start : start + 100]
        answer = requests.get(
            f"{simulator.base_url}/simulator/external-ids",
            params={"username": ",".join(batch)},
            cookies={"sessionid": SIM_CREDENTIALS.sessionid},
            timeout=10,
        )
        answer.raise_for_status()
        mapping.update({external: name for name, external in answer.json().items()})
    return mapping


# -- paging, counts, shapes -------------------------------------------------------------------


def test_all_statements_of_a_course_through_more(openedx_simulator, make_lrs_client) -> None:
    pages: list[tuple[str, int, int]] = []
    client = make_lrs_client(openedx_simulator, page_limit=400, on_page=lambda *p: pages.append(p))
    frame = client.statements(SPECIAL_COURSE)
    rows = course_rows(openedx_simulator, SPECIAL_COURSE)
    assert len(frame) == frame["statement_id"].nunique() == len(rows)
    assert list(frame.columns) == list(frames.STATEMENTS)
    for column, dtype in frames.STATEMENTS.items():
        assert frame[column].dtype == dtype, column
    assert len(pages) == -(-len(rows) // 400) and pages[0] == ("/xAPI/statements", 1, 400)
    assert client.stats.pages == len(pages) and client.stats.retries == 0
    assert frame["stored"].is_monotonic_increasing
    iri = client.course_activity_iri(SPECIAL_COURSE)
    assert iri == f"{openedx_simulator.platform_url}/course/{SPECIAL_COURSE}"
    assert (frame["course_activity"] == iri).all()
    assert set(frame["actor"]) <= enrolled_usernames(openedx_simulator, SPECIAL_COURSE)
    # Timestamps are naive UTC and equal the simulator's event times (millisecond precision).
    table = openedx_simulator.data.statements
    expected_ts = pd.to_datetime(np.sort(table.columns["ts_ms"][rows]), unit="ms")
    assert (np.sort(frame["timestamp"].to_numpy()) == expected_ts.to_numpy()).all()
    assert max_stored(frame) == frame["stored"].max()


def test_h5p_results_scores_and_durations(openedx_simulator, lrs_client: LrsClient) -> None:
    frame = lrs_client.statements(RUNNING_COURSE)
    rows = course_rows(openedx_simulator, RUNNING_COURSE)
    columns = openedx_simulator.data.statements.columns
    kinds = columns["kind"][rows]
    scored_rows = rows[kinds == K_H5P_SCORED]
    assert int(frame["is_h5p"].sum()) == int(np.isin(kinds, [K_H5P_SCORED, K_H5P_INTERACTED]).sum())
    scored = frame[frame["is_h5p"] & frame["score_raw"].notna()]
    assert len(scored) == len(scored_rows)
    assert scored["score_raw"].sum() == columns["raw"][scored_rows].sum()
    assert scored["score_max"].sum() == columns["max"][scored_rows].sum()
    assert scored["duration_s"].sum() == pytest.approx(
        columns["duration_cs"][scored_rows].sum() / 100
    )
    assert scored["completion"].map(type).eq(bool).all() and scored["completion"].all()
    assert set(scored["success"]) == {True, False}
    assert set(scored["verb_name"]) == {"completed", "answered"}
    problems = frame[frame["object_id"].str.contains("type@problem")]
    assert not problems["is_h5p"].any() and problems["score_raw"].notna().all()
    assert problems["duration_s"].isna().all() and problems["completion"].isna().all()
    registered = frame[frame["verb_name"] == "registered"]
    assert registered["object_type"].eq("http://adlnet.gov/expapi/activities/course").all()
    assert len(registered) == len(enrolled_usernames(openedx_simulator, RUNNING_COURSE))


def test_since_is_an_exclusive_cursor(openedx_simulator, lrs_client: LrsClient) -> None:
    everything = lrs_client.statements(ENDED_COURSE)
    middle = len(everything) // 2
    since = everything["stored"].iloc[middle].to_pydatetime()
    later = lrs_client.statements(ENDED_COURSE, since=since)
    assert len(later) == len(everything) - middle - 1
    assert later["statement_id"].tolist() == everything["statement_id"].iloc[middle + 1 :].tolist()
    cursor = max_stored(later)
    assert cursor == everything["stored"].max()
    nothing_new = lrs_client.statements(ENDED_COURSE, since=cursor.to_pydatetime())
    assert nothing_new.empty and max_stored(nothing_new) == cursor
    assert nothing_new.dtypes.to_dict() == later.dtypes.to_dict()
    # An aware `since` means the same instant in any zone.
    plus7 = since.replace(tzinfo=UTC).astimezone(HANOI)
    assert len(lrs_client.statements(ENDED_COURSE, since=plus7)) == len(later)
    window = lrs_client.statements(ENDED_COURSE, since=since, until=since + timedelta(days=3))
    assert 0 < len(window) < len(later)
    assert (window["stored"] <= pd.Timestamp(since + timedelta(days=3))).all()


def test_xapi_timestamps_round_down_to_the_millisecond() -> None:
    assert xapi_timestamp(datetime(2026, 3, 1, 8, 0, 0, 123999)) == "2026-03-01T08:00:00.123Z"
    aware = datetime(2026, 3, 1, 15, 0, tzinfo=UTC).astimezone(HANOI)
    assert xapi_timestamp(aware) == "2026-03-01T15:00:00.000Z"


# -- actors -----------------------------------------------------------------------------------


def test_actor_by_email(simulator_factory, make_lrs_client) -> None:
    simulator = simulator_factory(actor_id="email")
    frame = make_lrs_client(simulator, actor_id="email").statements(SPECIAL_COURSE)
    expected = {
        f"{name}@st.example.edu.vn" for name in enrolled_usernames(simulator, SPECIAL_COURSE)
    }
    assert frame["actor"].notna().all() and set(frame["actor"]) <= expected


def test_actor_by_external_id_mapped_to_usernames(simulator_factory, make_lrs_client, tmp_path):
    simulator = simulator_factory(actor_id="external_id")
    usernames = sorted(enrolled_usernames(simulator, SPECIAL_COURSE))
    mapping = external_id_map(simulator, usernames)
    assert len(mapping) == len(usernames)
    client = make_lrs_client(simulator, actor_id="external_id", external_ids=mapping)
    frame = client.statements(SPECIAL_COURSE)
    assert frame["actor"].notna().all() and set(frame["actor"]) <= set(usernames)
    assert client.unmapped_actors == frozenset()
    # A map that misses learners leaves them unresolved (None) and reports their ids.
    partial = dict(list(mapping.items())[:10])
    client = make_lrs_client(simulator, actor_id="external_id", external_ids=partial)
    frame = client.statements(SPECIAL_COURSE)
    assert set(frame["actor"].dropna()) <= set(partial.values())
    assert frame["actor"].isna().any()
    assert client.unmapped_actors and not client.unmapped_actors & set(partial)
    # The same map from a CSV export of the LMS table, or from JSON.
    csv_file = tmp_path / "external_ids.csv"
    lines = ["external_user_id,username", *(f"{k},{v}" for k, v in mapping.items())]
    csv_file.write_text("\n".join(lines), encoding="utf-8")
    assert load_external_id_map(csv_file) == mapping
    json_file = tmp_path / "external_ids.json"
    json_file.write_text(pd.Series(mapping).to_json(), encoding="utf-8")
    assert load_external_id_map(json_file) == mapping


def test_actor_resolver_reads_every_identifier_kind() -> None:
    account = {"objectType": "Agent", "account": {"homePage": "https://lms", "name": "an.le1"}}
    mbox = {"objectType": "Agent", "mbox": "mailto:an@example.edu.vn"}
    openid = {"objectType": "Agent", "openid": "https://openedx.org/users/user-v1/ext-9"}
    sha1 = {"objectType": "Agent", "mbox_sha1sum": "ab12"}
    assert ActorResolver("username").resolve(account) == "an.le1"
    assert ActorResolver("username").resolve(mbox) is None
    assert ActorResolver("email").resolve(mbox) == "an@example.edu.vn"
    external = ActorResolver("external_id", {"ext-9": "an.le1", "ab12": "binh.tran2"})
    assert external.resolve(openid) == "an.le1" and external.resolve(sha1) == "binh.tran2"
    assert external.resolve(account) is None and external.unmapped == {"an.le1"}
    with pytest.raises(ValueError, match="external id"):
        ActorResolver("external_id")
    with pytest.raises(ValueError, match="actor_id"):
        ActorResolver("name")


# -- parsing helpers --------------------------------------------------------------------------


def test_iso_8601_durations() -> None:
    values = pd.Series(
        ["PT2M5.37S", "PT125.37S", "PT1H0M0.00S", "P1DT2H", "PT0S", "pt1,5s", "P1W", None, "PT",
         "5 minutes", "P1Y2M"]
    )  # fmt: skip
    expected = [125.37, 125.37, 3600.0, 93600.0, 0.0, 1.5, 604800.0, None, None, None,
                365 * 86400 + 60 * 86400]  # fmt: skip
    parsed = parse_durations(values)
    assert parsed.dtype == "float64"
    for got, want in zip(parsed, expected, strict=True):
        assert (np.isnan(got) and want is None) or got == pytest.approx(want)


def test_pages_are_joined_into_batches() -> None:
    pages = [["a", "b"], ["c"], [], ["d", "e", "f"], ["g"]]
    assert list(batched(iter(pages), 3)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert list(batched(iter([["a", "b", "c"]]), 3)) == [["a", "b", "c"]]
    assert list(batched(iter([[]]), 3)) == [[]]  # an empty course is one empty batch
    assert list(batched(iter([]), 3)) == [[]]


def test_verb_names() -> None:
    verbs = pd.Series(
        ["http://adlnet.gov/expapi/verbs/completed", "https://w3id.org/xapi/video/verbs/played/",
         "http://example.com/verbs#shared", "urn:x"]
    )  # fmt: skip
    assert verb_names(verbs).tolist() == ["completed", "played", "shared", "urn:x"]


# -- configuration and failures ---------------------------------------------------------------


def test_course_activity_template_is_configurable(simulator_factory, make_lrs_client) -> None:
    lms = "https://lms.example.edu.vn"
    simulator = simulator_factory(platform_url=lms)  # LMS and LRS on different hosts
    client = make_lrs_client(simulator, platform_url=lms)
    frame = client.statements(SPECIAL_COURSE)
    assert len(frame) == len(course_rows(simulator, SPECIAL_COURSE))
    assert frame["course_activity"].eq(f"{lms}/course/{SPECIAL_COURSE}").all()
    other = make_lrs_client(
        simulator, course_activity_template="{platform_url}/courses/{course_id}/"
    )
    assert other.course_activity_iri("course-v1:A+B+C") == f"{lms}/courses/course-v1:A+B+C/"
    assert other.statements(SPECIAL_COURSE).empty
    encoded = make_lrs_client(simulator, course_activity_template="urn:course:{course_id_encoded}")
    assert encoded.course_activity_iri("course-v1:A+B+C") == "urn:course:course-v1:A%2BB%2BC"
    with pytest.raises(ValueError, match="unknown placeholders"):
        make_lrs_client(simulator, course_activity_template="{lms}/course/{course_id}")
    with pytest.raises(ValueError, match="platform_url"):
        make_lrs_client(simulator, platform_url=None)


def test_wrong_schema_names_endpoint_and_field(simulator_factory, make_lrs_client) -> None:
    simulator = simulator_factory("wrong_schema=/xAPI#2")
    client = make_lrs_client(simulator, page_limit=500)
    with pytest.raises(PayloadError) as raised:
        client.statements(SPECIAL_COURSE)
    error = raised.value
    assert error.endpoint == "/xAPI/statements" and error.field == "statements"
    assert "statement_list" in str(error) and client.stats.pages == 1


def test_truncated_page_is_a_payload_error(simulator_factory, make_lrs_client) -> None:
    simulator = simulator_factory("truncate=/xAPI#3")
    with pytest.raises(PayloadError, match="/xAPI/statements.*not valid JSON"):
        make_lrs_client(simulator, page_limit=500).statements(SPECIAL_COURSE)


def test_bursts_and_throttling_are_retried(simulator_factory, make_lrs_client, recorded_sleep):
    simulator = simulator_factory("burst5xx=2@/xAPI,burst_every=5,rate429=0.25@/xAPI,retry_after=2")
    client = make_lrs_client(simulator, page_limit=1000)
    frame = client.statements(SPECIAL_COURSE)
    assert len(frame) == len(course_rows(simulator, SPECIAL_COURSE))
    assert client.stats.retries > 0 and 2.0 in recorded_sleep.waits


def test_wrong_lrs_password_names_the_variables(openedx_simulator, make_lrs_client) -> None:
    client = LrsClient(
        openedx_simulator.lrs_url,
        SIM_CREDENTIALS.lrs_username,
        "wrong-lrs-password-1618",
        platform_url=openedx_simulator.platform_url,
    )
    with pytest.raises(OpenEdxAuthError) as raised:
        client.statements(SPECIAL_COURSE)
    message = str(raised.value)
    assert "LRS_USERNAME/LRS_PASSWORD" in message and "/xAPI/statements" in message
    assert "wrong-lrs-password-1618" not in message and SIM_CREDENTIALS.lrs_password not in message
    assert "wrong-lrs-password-1618" not in repr(client)
    with pytest.raises(ValueError, match="1.0"):
        make_lrs_client(openedx_simulator, version="0.95")
