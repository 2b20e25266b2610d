"""Batch prediction of a course from the API: a Dagster run when a webserver is configured,
else scored in this process.

With `DAGSTER_WEBSERVER_URL` the run goes through Dagster's GraphQL API (the same run queue,
launcher, logs and retries as a run started from the UI); without it, a small deployment
still gets its scores, written with the same code (`predict_course`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from dropout_pipelines.api.errors import Conflict, LaunchFailed
from dropout_pipelines.api.reads import require_course
from dropout_pipelines.api.shapes import BatchPrediction
from dropout_pipelines.predict.jobs import predict_course_job
from dropout_pipelines.predict.selection import NoModelError
from dropout_pipelines.predict.service import NoFeaturesError, predict_course

WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
PARTITION_TAG = "dagster/partition"
API_RUN_PREFIX = "api-"


def launch_dagster_run(webserver_url: str, course_id: str) -> str:
    """Submit `predict_course_job` for the course's partition; the new run's id."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    parts = urlsplit(webserver_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LaunchFailed(f"{WEBSERVER_URL_ENV} must be http(s)://host[:port][/prefix]")
    client = DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        path_prefix=parts.path.rstrip("/"),
        timeout=30,
    )
    try:
        return client.submit_job_execution(predict_course_job.name, tags={PARTITION_TAG: course_id})
    except DagsterGraphQLClientError as error:
        raise LaunchFailed(
            f"Dagster refused the {predict_course_job.name} run for {course_id!r}: {error}"
        ) from error
    except Exception as error:  # noqa: BLE001 - connection errors of the HTTP transport
        raise LaunchFailed(
            f"could not reach Dagster at {parts.scheme}://{parts.netloc}: {type(error).__name__}"
        ) from error


def predict_in_process(engine: sa.Engine, course_id: str, now: datetime) -> BatchPrediction:
    run_id = f"{API_RUN_PREFIX}{uuid.uuid4().hex[:16]}"
    try:
        scores = predict_course(engine, course_id, run_id, now)
    except (NoModelError, NoFeaturesError) as error:
        raise Conflict(str(error)) from error
    summary = scores.summary()
    return BatchPrediction(
        course_id=course_id,
        mode="in_process",
        run_id=run_id,
        status="SUCCESS",
        students=int(summary["students"]),
        high=int(summary["high"]),
        model=str(summary["model"]),
    )


def batch_predict(
    engine: sa.Engine, course_id: str, now: datetime, webserver_url: str | None
) -> BatchPrediction:
    with engine.connect() as connection:
        require_course(connection, course_id)
    if webserver_url:
        run_id = launch_dagster_run(webserver_url, course_id)
        return BatchPrediction(course_id=course_id, mode="dagster", run_id=run_id, status="QUEUED")
    return predict_in_process(engine, course_id, now)
