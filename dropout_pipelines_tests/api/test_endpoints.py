"""The read API's endpoints through a real uvicorn server, on SQLite and MariaDB."""

from __future__ import annotations

import sqlalchemy as sa

from dropout_pipelines.warehouse import schema as s
from dropout_pipelines.warehouse.sql_files import named_query
from dropout_pipelines.warehouse.text_search import fold_text
from dropout_pipelines_tests.api.conftest import (
    HOSTILE_COURSE,
    NOW,
    OLD_STYLE_COURSE,
    STUDENTS,
    UNPREDICTED,
    XSS_NAME,
    path,
)

COURSE = path(HOSTILE_COURSE)


def _rows(engine: sa.Engine, table: sa.Table, *where) -> list[dict]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(sa.select(table).where(*where)).mappings()]


def _names(engine: sa.Engine) -> dict[int, str]:
    e = s.enrollments
    rows = _rows(engine, e, e.c.course_id == HOSTILE_COURSE)
    return {row["user_id"]: row["full_name"] for row in rows}


def test_courses_are_listed_with_their_counts(served):
    body = served.get("courses").json()
    courses = {course["course_id"]: course for course in body["courses"]}
    assert set(courses) == {HOSTILE_COURSE, OLD_STYLE_COURSE}
    hostile = courses[HOSTILE_COURSE]
    assert hostile["display_name"] == "Học máy 101" and hostile["semester"] == "2026_S2"
    assert hostile["students"] == STUDENTS and hostile["predicted"] == STUDENTS - UNPREDICTED
    assert courses[OLD_STYLE_COURSE]["predicted"] == 0


def test_students_page_sorted_by_risk_with_placeholders(served):
    response = served.get(f"students/{COURSE}", params={"page_size": 500})
    assert response.status_code == 200
    page = response.json()
    students = page["students"]
    assert page["total"] == len(students) == STUDENTS
    scores = [student["fail_risk_score"] for student in students]
    assert scores == sorted(scores, reverse=True)
    placeholders = [student for student in students if student["is_placeholder"]]
    assert len(placeholders) == UNPREDICTED
    assert all(
        p["fail_risk_score"] == 50 and p["risk_level"] == "MEDIUM" and p["model_name"] is None
        for p in placeholders
    )
    # Vietnamese names (and a name that looks like HTML) come back exactly as stored.
    names = _names(served.engine)
    assert {st["user_id"]: st["full_name"] for st in students} == names
    assert any("ễ" in name or "ư" in name or "Đ" in name for name in names.values())
    assert XSS_NAME in {st["full_name"] for st in students}
    # Every score is the student's latest serving prediction.
    p = s.predictions
    latest = {
        row["user_id"]: row["fail_risk_score"]
        for row in _rows(
            served.engine, p, p.c.course_id == HOSTILE_COURSE, p.c.latest_serving_slot == 1
        )
    }
    assert {
        st["user_id"]: st["fail_risk_score"] for st in students if not st["is_placeholder"]
    } == latest


def test_pages_cover_everyone_once(served):
    seen, page = [], 1
    while True:
        body = served.get(f"students/{COURSE}", params={"page": page, "page_size": 7}).json()
        assert body["total"] == STUDENTS
        if not body["students"]:
            break
        seen += [student["user_id"] for student in body["students"]]
        page += 1
    assert sorted(seen) == list(range(1, STUDENTS + 1))
    assert page == -(-STUDENTS // 7) + 1


def test_sort_search_and_level_filter(served):
    by_name = served.get(
        f"students/{COURSE}", params={"sort": "name", "order": "asc", "page_size": 500}
    )
    names = [student["full_name"] for student in by_name.json()["students"]]
    assert len(names) == STUDENTS and names[0] == min(names, key=lambda n: n)  # a real order
    enrollments = _rows(served.engine, s.enrollments, s.enrollments.c.course_id == HOSTILE_COURSE)
    family = _names(served.engine)[7].split()[0]
    # Case- and accent-insensitive on both backends: what an instructor types finds
    # exactly the students whose name, username or email holds it, folded.
    for typed in (family, family.upper(), fold_text(family), "Đặng", "dang", "THỊ", "hương"):
        expected = {
            row["user_id"]
            for row in enrollments
            if any(
                fold_text(typed) in fold_text(row[column])
                for column in ("username", "full_name", "email")
            )
        }
        found = served.get(f"students/{COURSE}", params={"q": typed, "page_size": 500}).json()
        assert {student["user_id"] for student in found["students"]} == expected, typed
        assert found["total"] == len(expected)
    assert fold_text(family) != family  # the fold really changed something
    assert served.get(f"students/{COURSE}", params={"q": "7"}).json()["total"] >= 1
    by_id = served.get(f"students/{COURSE}", params={"q": "7"}).json()["students"]
    assert 7 in {student["user_id"] for student in by_id}
    # LIKE's wildcards are literal: nobody's name holds % or _.
    for wildcard in ("%", "_", "%%", "\\"):
        assert served.get(f"students/{COURSE}", params={"q": wildcard}).json()["total"] == 0
    high = served.get(f"students/{COURSE}", params={"level": "HIGH", "page_size": 500}).json()
    assert all(student["risk_level"] == "HIGH" for student in high["students"])
    low = served.get(f"students/{COURSE}", params={"level": "LOW", "page_size": 500}).json()
    medium = served.get(f"students/{COURSE}", params={"level": "MEDIUM", "page_size": 500}).json()
    assert high["total"] + low["total"] + medium["total"] == STUDENTS


def test_bad_query_parameters_are_422_with_the_parameter_named(served):
    for params, named in (
        ({"sort": "fail_risk_score; DROP TABLE predictions"}, "sort"),
        ({"page": 0}, "page"),
        ({"page_size": 501}, "page_size"),
        ({"order": "sideways"}, "order"),
        ({"level": "CRITICAL"}, "level"),
        ({"page": "two"}, "page"),
    ):
        response = served.get(f"students/{COURSE}", params=params)
        assert response.status_code == 422 and named in response.json()["error"], params
    assert _rows(served.engine, s.predictions)  # still there


def test_statistics_match_the_warehouse(served):
    stats = served.get(f"statistics/{COURSE}").json()
    with served.engine.connect() as connection:
        expected = (
            connection.execute(named_query("course_statistics"), {"course_id": HOSTILE_COURSE})
            .mappings()
            .one()
        )
    assert stats["total_students"] == STUDENTS
    assert stats["predicted_students"] == STUDENTS - UNPREDICTED
    assert stats["high_risk_count"] == expected["high_risk_count"]
    assert abs(stats["avg_risk_score"] - float(expected["avg_risk_score"])) < 1e-6
    assert sum(stats["level_counts"].values()) == STUDENTS - UNPREDICTED


def test_hostile_and_unknown_course_ids(served):
    for unknown in (
        "course-v1:X+Y+Z",
        "x' OR '1'='1",
        "course-v1:O'Reilly+ML_101_+2026_S2",  # _ would match % in a LIKE
        "%",
        "ML_101%",
        "'; DROP TABLE student_features; --",
    ):
        for endpoint in ("students", "statistics", "models/compare"):
            response = served.get(f"{endpoint}/{path(unknown)}")
            assert response.status_code == 404, (endpoint, unknown)
            assert unknown in response.json()["error"]
        assert served.get(f"student/1/{path(unknown)}").status_code == 404
    # An old-style key with slashes works, escaped or not.
    assert served.get(f"statistics/{path(OLD_STYLE_COURSE)}").json()["total_students"] == 8
    assert served.get(f"statistics/{OLD_STYLE_COURSE}").json()["total_students"] == 8
    assert len(_rows(served.engine, s.student_features)) == STUDENTS + 8


def test_student_detail_predicts_on_demand_once(served):
    unpredicted = STUDENTS  # the last student has no prediction
    first = served.get(f"student/{unpredicted}/{COURSE}")
    assert first.status_code == 200, first.text
    detail = first.json()
    assert detail["predicted_now"] is True
    assert detail["full_name"] == _names(served.engine)[unpredicted]
    prediction = detail["prediction"]
    assert prediction["run_id"] == s.ON_DEMAND_RUN_ID and prediction["model_name"] == "fm101"
    assert prediction["predicted_at"] == NOW.isoformat()
    assert prediction["reasons"] and {"feature", "value", "contribution"} <= set(
        prediction["reasons"][0]
    )
    assert detail["features"]["week_of_course"] == 8
    again = served.get(f"student/{unpredicted}/{COURSE}").json()
    assert again["predicted_now"] is False and again["prediction"]["id"] == prediction["id"]
    p = s.predictions
    saved = _rows(served.engine, p, p.c.user_id == unpredicted, p.c.course_id == HOSTILE_COURSE)
    assert len(saved) == 1 and saved[0]["is_latest"]
    # The placeholder is gone for that student only.
    students = served.get(f"students/{COURSE}", params={"page_size": 500}).json()["students"]
    assert sum(student["is_placeholder"] for student in students) == UNPREDICTED - 1


def test_unknown_student_is_404_and_nothing_is_predicted(served):
    before = len(_rows(served.engine, s.predictions))
    for user in (9999, 500):  # 500 exists, in the other course
        response = served.get(f"student/{user}/{COURSE}")
        assert response.status_code == 404 and str(user) in response.json()["error"]
    # a non-numeric id matches no student route: the API's plain 404, not a server error
    assert served.get(f"student/abc/{COURSE}").status_code == 404
    assert len(_rows(served.engine, s.predictions)) == before


def test_risk_history_oldest_first_with_the_model_of_each_point(served):
    history = served.get(f"student/3/{COURSE}/history").json()
    points = history["points"]
    assert [point["run_id"] for point in points] == ["run-week-8", "run-week-9"]
    assert [point["is_latest"] for point in points] == [False, True]
    assert all(point["model_name"] == "fm101" and point["model_version"] == "1" for point in points)
    assert served.get(f"student/{STUDENTS}/{COURSE}/history").json()["points"] == []


def test_feedback_is_recorded_per_instructor_and_shown_in_the_comparison(served):
    missing = served.post(f"feedback/{STUDENTS}/{COURSE}", json={"useful": True})
    assert missing.status_code == 409 and "open the student first" in missing.json()["error"]
    assert served.post(f"feedback/3/{COURSE}", json={"useful": "maybe"}).status_code == 422
    assert served.post(f"feedback/3/{COURSE}", json={"useful": True, "x": 1}).status_code == 422
    assert served.post(f"feedback/3/{COURSE}", data="not json").status_code == 422
    assert served.post(f"feedback/3/{COURSE}", data="x" * 5000).status_code == 413
    saved = served.post(f"feedback/3/{COURSE}", json={"useful": True}).json()
    assert saved["given_by"] == "co.tran" and saved["model_name"] == "fm101"
    served.post(f"feedback/3/{COURSE}", json={"useful": False})  # a changed mind replaces
    served.post(f"feedback/3/{COURSE}", json={"useful": True}, token="tok-for-thay-nam-98765")
    f = s.prediction_feedback
    rows = _rows(served.engine, f, f.c.course_id == HOSTILE_COURSE)
    assert sorted((row["given_by"], bool(row["useful"])) for row in rows) == [
        ("co.tran", False),
        ("thay.nam", True),
    ]
    comparison = served.get(f"models/compare/{COURSE}").json()
    assert comparison["run_id"] == "run-week-9"
    assert comparison["feedback"] == [
        {"model_name": "fm101", "model_version": "1", "useful": 1, "not_useful": 1}
    ]
    detail = served.get(f"student/3/{COURSE}").json()
    assert {(item["given_by"], item["useful"]) for item in detail["feedback"]} == {
        ("co.tran", False),
        ("thay.nam", True),
    }


def test_comparison_ignores_on_demand_predictions(served):
    served.get(f"student/{STUDENTS}/{COURSE}")  # one on-demand prediction, made now
    comparison = served.get(f"models/compare/{COURSE}").json()
    assert comparison["run_id"] == "run-week-9"
    assert comparison["models"][0]["students"] == STUDENTS - UNPREDICTED


def test_batch_predict_in_process_scores_everyone(served):
    response = served.post(f"predict/{COURSE}")
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["mode"] == "in_process" and run["status"] == "SUCCESS"
    assert run["students"] == STUDENTS and run["model"] == "fm101:1"
    students = served.get(f"students/{COURSE}", params={"page_size": 500}).json()["students"]
    assert not any(student["is_placeholder"] for student in students)
    assert {student["predicted_at"] for student in students} == {NOW.isoformat()}
    assert served.get(f"models/compare/{COURSE}").json()["run_id"] == run["run_id"]


def test_no_model_is_a_clear_409(served):
    with served.engine.begin() as connection:
        connection.execute(sa.update(s.model_registry).values(is_active=False, is_default=False))
    response = served.get(f"student/{STUDENTS}/{COURSE}")
    assert response.status_code == 409
    assert HOSTILE_COURSE in response.json()["error"]
    assert served.post(f"predict/{COURSE}").status_code == 409


def test_openapi_describes_every_endpoint(served):
    document = served.get("openapi.json").json()
    assert document["openapi"].startswith("3.1")
    operations = {
        (method.upper(), route)
        for route, methods in document["paths"].items()
        for method in methods
    }
    assert operations == {
        ("GET", "/api/courses"),
        ("GET", "/api/students/{course_id}"),
        ("GET", "/api/statistics/{course_id}"),
        ("GET", "/api/student/{user_id}/{course_id}"),
        ("GET", "/api/student/{user_id}/{course_id}/history"),
        ("POST", "/api/predict/{course_id}"),
        ("GET", "/api/models/compare/{course_id}"),
        ("POST", "/api/feedback/{user_id}/{course_id}"),
    }
    schemas = document["components"]["schemas"]
    assert {"StudentPage", "StudentRow", "StudentDetail", "RiskHistory", "ErrorBody"} <= set(
        schemas
    )
    students = document["paths"]["/api/students/{course_id}"]["get"]
    assert {"page", "page_size", "sort", "order", "q", "level"} <= {
        parameter["name"] for parameter in students["parameters"]
    }


def test_responses_never_hold_the_database_password(served, db_url):
    password = sa.make_url(db_url).password
    served.get(f"student/{STUDENTS}/{COURSE}")
    bodies = [
        served.get(endpoint).text
        for endpoint in (
            "courses",
            f"students/{COURSE}",
            f"statistics/{COURSE}",
            f"student/3/{COURSE}",
            f"student/3/{COURSE}/history",
            f"models/compare/{COURSE}",
            "openapi.json",
        )
    ]
    assert all(len(body) > 20 for body in bodies)
    if password:
        assert not any(password in body for body in bodies)
