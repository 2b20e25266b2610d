"""The simulator's Course Blocks API: the outline a staff client reads, joined to the LRS."""

from __future__ import annotations

from datetime import date

import requests

from dropout_pipelines.simulator.openedx import DataParams, SimulatorConfig, start_simulator

COURSE = "course-v1:DHQG-HCM+FM101+2026_S2"


def _token(simulator, client_id: str, secret: str) -> str:
    response = requests.post(
        f"{simulator.base_url}/oauth2/access_token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret, "token_type": "jwt"},
        timeout=10,
    )  # fmt: skip
    return response.json()["access_token"]


def test_outline_has_graded_subsections_with_due_dates_and_staff_only():
    config = SimulatorConfig(
        data=DataParams(seed=3, today=date(2026, 11, 29), students_per_course=5)
    )
    with start_simulator(config) as simulator:
        credentials = simulator.config.credentials
        url = f"{simulator.base_url}/api/courses/v2/blocks/"
        params = {"course_id": COURSE, "depth": "all", "requested_fields": "graded,format,due"}
        staff = _token(simulator, credentials.client_id, credentials.client_secret)
        document = requests.get(
            url, params=params, headers={"Authorization": f"JWT {staff}"}, timeout=10
        ).json()
        learner = _token(
            simulator, credentials.learner_client_id, credentials.learner_client_secret
        )
        refused = requests.get(
            url, params=params, headers={"Authorization": f"JWT {learner}"}, timeout=10
        )
        missing = requests.get(
            url, params={**params, "course_id": "course-v1:NO+SUCH+RUN"},
            headers={"Authorization": f"JWT {staff}"}, timeout=10,
        )  # fmt: skip
    blocks = document["blocks"]
    assert blocks[document["root"]]["type"] == "course"
    graded = [b for b in blocks.values() if b["type"] == "sequential"]
    assert {b["format"] for b in graded} == {"Homework", "Midterm Exam", "Final Exam"}
    assert all(b["graded"] and b["due"].endswith("Z") for b in graded)
    problems = [blocks[child] for b in graded for child in b["children"]]
    assert problems and all(p["type"] == "problem" for p in problems)
    assert refused.status_code == 403 and missing.status_code == 404
