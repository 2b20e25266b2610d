"""The HTTP layer: backoff arithmetic, paging links, URL encoding, and retries / payload
checks against the live simulator's injected faults."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from dropout_pipelines.ingest.clients.backoff import (
    RetryPolicy,
    backoff_delay,
    parse_retry_after,
    retry_delay,
)
from dropout_pipelines.ingest.clients.errors import (
    ApiRequestError,
    NotFoundError,
    OpenEdxAuthError,
    OpenEdxPermissionError,
    PayloadError,
    UpstreamError,
    redact,
)
from dropout_pipelines.ingest.clients.http import ApiSession, FetchStats, normalize_timeout
from dropout_pipelines.ingest.clients.paging import next_page_url, page_results
from dropout_pipelines.ingest.clients.urls import (
    course_path_segment,
    endpoint_of,
    rebase_link,
    strip_userinfo,
    with_query_param,
)
from dropout_pipelines_tests.ingest.conftest import SPECIAL_COURSE

# -- backoff ----------------------------------------------------------------------------------


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None and parse_retry_after("") is None


def test_retry_after_is_capped_and_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=8.0, retry_after_max_s=60.0)
    assert retry_delay(0, "3600", policy, lambda: 0.5) == 60.0
    assert retry_delay(0, "2", policy, lambda: 0.5) == 2.0
    low = [backoff_delay(n, policy, lambda: 0.0) for n in range(7)]
    high = [backoff_delay(n, policy, lambda: 1.0) for n in range(7)]
    assert low == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert high == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy.is_transient(429) and RetryPolicy.is_transient(503)
    assert not RetryPolicy.is_transient(501) and not RetryPolicy.is_transient(404)
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)


def test_timeout_normalisation() -> None:
    assert normalize_timeout(30) == (10.0, 30.0)
    assert normalize_timeout(0.5) == (0.5, 0.5)
    assert normalize_timeout((2, 7)) == (2.0, 7.0)


# -- URLs and paging links --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("course_id", "segment"),
    [
        ("course-v1:DHQG-HCM+FM101+2025_S2", "course-v1:DHQG-HCM%2BFM101%2B2025_S2"),
        (
            "course-v1:DHQG-HCM+DS.AI-201_x~v2+2026_S1",
            "course-v1:DHQG-HCM%2BDS.AI-201_x~v2%2B2026_S1",
        ),
        ("edX/DemoX/Demo_Course", "edX/DemoX/Demo_Course"),
        ("course-v1:O'Reilly+A B+x%y", "course-v1:O%27Reilly%2BA%20B%2Bx%25y"),
    ],
)
def test_course_id_path_encoding(course_id: str, segment: str) -> None:
    assert course_path_segment(course_id) == segment
    assert endpoint_of(f"https://lms.example/api/x/{segment}/?a=1") == f"/api/x/{course_id}/"


def test_rebase_keeps_links_on_the_configured_host() -> None:
    base = "https://lms.example.edu.vn"
    # Django behind a TLS proxy writes http:// into `next`: keep https.
    assert (
        rebase_link("http://lms.example.edu.vn/api/x?cursor=abc", base)
        == "https://lms.example.edu.vn/api/x?cursor=abc"
    )
    assert (
        rebase_link("http://lms-internal:8000/api/x?page=2", base)
        == "https://lms.example.edu.vn/api/x?page=2"
    )
    lrs = "https://lrs.example/data/xAPI/statements"
    assert rebase_link("/data/xAPI/statements?more=t1", lrs) == (
        "https://lrs.example/data/xAPI/statements?more=t1"
    )
    assert (
        rebase_link("statements?more=t2", lrs) == "https://lrs.example/data/xAPI/statements?more=t2"
    )
    assert strip_userinfo("https://u:pw@lrs.example:8443/xAPI") == "https://lrs.example:8443/xAPI"
    assert with_query_param("https://h/a?page=2&x=1", "page", 3) == "https://h/a?x=1&page=3"


def test_next_link_whatever_the_envelope() -> None:
    here = "https://h/api/list?page_size=10"
    assert next_page_url({"next": "n1", "results": []}, "/e", here) == "n1"
    assert next_page_url({"next": None, "results": []}, "/e", here) is None
    assert next_page_url({"pagination": {"next": "n2"}, "results": []}, "/e", here) == "n2"
    assert next_page_url({"pagination": {"next": ""}, "results": []}, "/e", here) is None
    numbered = {"current_page": 1, "num_pages": 3, "results": []}
    assert next_page_url(numbered, "/e", here) == "https://h/api/list?page_size=10&page=2"
    assert next_page_url({"current_page": 3, "num_pages": 3, "results": []}, "/e", here) is None
    with pytest.raises(PayloadError, match="'next'"):
        next_page_url({"next": 5, "results": []}, "/e", here)
    with pytest.raises(PayloadError) as missing:
        page_results({"items": [], "links": {}}, "/api/enrollment/v1/enrollments")
    assert missing.value.field == "results" and "items" in str(missing.value)
    assert "/api/enrollment/v1/enrollments" in str(missing.value)


# -- errors -----------------------------------------------------------------------------------


def test_errors_say_what_to_do_and_survive_pickling() -> None:
    errors = [
        OpenEdxAuthError("/api/x", "OPENEDX_CLIENT_ID/OPENEDX_CLIENT_SECRET", "invalid_client"),
        OpenEdxPermissionError("/api/grades/v1/gradebook/c/", "c"),
        PayloadError("/api/x", "results[3].username", "missing"),
        UpstreamError("/api/x", 6, 503),
        UpstreamError("/api/x", 2, None, "ReadTimeout"),
        NotFoundError("/api/x", 404, "Not found."),
        ApiRequestError("/api/x", 400, "bad"),
    ]
    for error in errors:
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)
    assert "Renew OPENEDX_CLIENT_ID/OPENEDX_CLIENT_SECRET" in str(errors[0])
    assert "needs staff rights on c" in str(errors[1])
    assert "'results[3].username'" in str(errors[2]) and "/api/x" in str(errors[2])
    assert "6 attempts" in str(errors[3]) and "HTTP 503" in str(errors[3])
    assert "ReadTimeout" in str(errors[4])
    assert redact("token abcdef and abcdef", ["abcdef", None, ""]) == (
        "token [redacted] and [redacted]"
    )


# -- live retries -----------------------------------------------------------------------------


def _session(recorded_sleep, **kwargs) -> ApiSession:
    return ApiSession(sleep=recorded_sleep, rand=lambda: 0.5, **kwargs)


def test_rate429_honours_retry_after(simulator_factory, recorded_sleep) -> None:
    simulator = simulator_factory("rate429=0.5,retry_after=3")
    session = _session(recorded_sleep, retry=RetryPolicy(max_retries=2))
    url = f"{simulator.base_url}/api/courses/v1/courses/"
    for _ in range(3):
        assert session.get_json(url)["results"]
    # 1st, 3rd, 5th requests are throttled: each retried once after exactly Retry-After.
    assert recorded_sleep.waits == [3.0, 3.0, 3.0]
    assert session.stats.requests == 6 and session.stats.retries == 3


def test_burst5xx_is_retried_with_backoff(simulator_factory, recorded_sleep) -> None:
    simulator = simulator_factory("burst5xx=3")
    session = _session(recorded_sleep, retry=RetryPolicy(max_retries=4, backoff_base_s=0.1))
    document = session.get_json(f"{simulator.base_url}/api/courses/v1/courses/")
    assert len(document["results"]) == 6
    assert recorded_sleep.waits == pytest.approx([0.075, 0.15, 0.3])
    assert session.stats.retries == 3 and session.stats.requests == 4
    assert session.stats.bytes > 0 and session.stats.seconds > 0


def test_burst_longer_than_the_retries_is_an_upstream_error(simulator_factory, recorded_sleep):
    simulator = simulator_factory("burst5xx=10")
    session = _session(recorded_sleep, retry=RetryPolicy(max_retries=2))
    with pytest.raises(UpstreamError) as raised:
        session.get_json(f"{simulator.base_url}/api/courses/v1/courses/")
    error = raised.value
    assert error.attempts == 3 and error.last_status == 504
    assert error.endpoint == "/api/courses/v1/courses/"
    assert "3 attempts" in str(error) and "HTTP 504" in str(error)


def test_latency_beyond_the_timeout_is_retried_then_fails(simulator_factory, recorded_sleep):
    simulator = simulator_factory("latency=400@/api/courses")
    session = _session(recorded_sleep, timeout=(2.0, 0.1), retry=RetryPolicy(max_retries=1))
    with pytest.raises(UpstreamError, match="ReadTimeout") as raised:
        session.get_json(f"{simulator.base_url}/api/courses/v1/courses/")
    assert raised.value.attempts == 2 and raised.value.last_status is None
    assert len(recorded_sleep.waits) == 1
    patient = _session(recorded_sleep, timeout=5.0)
    assert patient.get_json(f"{simulator.base_url}/api/courses/v1/courses/")["results"]


def test_truncated_json_is_a_payload_error_naming_the_endpoint(
    simulator_factory, make_openedx_client
) -> None:
    simulator = simulator_factory("truncate=/api/grades")
    client = make_openedx_client(simulator)
    with pytest.raises(PayloadError) as raised:
        client.gradebook(SPECIAL_COURSE)
    error = raised.value
    assert error.field == "body" and "not valid JSON" in str(error)
    assert error.endpoint == f"/api/grades/v1/gradebook/{SPECIAL_COURSE}/"
    assert f"/api/grades/v1/gradebook/{SPECIAL_COURSE}/" in str(error)


def test_on_page_reports_progress_and_stats_count_pages(openedx_simulator, make_openedx_client):
    seen: list[tuple[str, int, int]] = []
    client = make_openedx_client(openedx_simulator, on_page=lambda *page: seen.append(page))
    frame = client.enrollments(SPECIAL_COURSE)
    endpoint = "/api/enrollment/v1/enrollments"
    assert seen == [(endpoint, 1, 100), (endpoint, 2, 100)] and len(frame) == 200
    stats = client.stats
    assert stats.pages == 2 and stats.retries == 0
    assert stats.requests == 3  # the token, then two pages
    assert set(stats.as_metadata()) == {"requests", "pages", "retries", "seconds", "bytes"}
    assert FetchStats().as_metadata()["seconds"] == 0.0
