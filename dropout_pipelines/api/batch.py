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

import requests
import sqlalchemy as sa

from dropout_pipelines.api.errors import Conflict, LaunchFailed
from dropout_pipelines.api.reads import require_course
from dropout_pipelines.api.shapes import BatchPrediction
from dropout_pipelines.partitions import courses_partitions
from dropout_pipelines.predict.jobs import predict_course_job
from dropout_pipelines.predict.model_store import ModelStore
from dropout_pipelines.predict.selection import NoModelError
from dropout_pipelines.predict.service import NoFeaturesError, predict_course

WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
PARTITION_TAG = "dagster/partition"
API_RUN_PREFIX = "api-"


ADD_PARTITION = """
mutation AddCoursePartition(
    $partitionsDefName: String!, $partitionKey: String!, $repositorySelector: RepositorySelector!
) {
  addDynamicPartition(
    partitionsDefName: $partitionsDefName,
    partitionKey: $partitionKey,
    repositorySelector: $repositorySelector
  ) {
    __typename
    ... on PythonError { message }
    ... on UnauthorizedError { message }
  }
}
"""
PARTITION_PRESENT = ("AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError")


def _client(webserver_url: str):  # noqa: ANN202 - dagster_graphql is imported lazily
    from dagster_graphql import DagsterGraphQLClient

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
    return client, f"{parts.scheme}://{parts.hostname}:{parts.port or ''}".rstrip(":")


def _ensure_partition(client, course_id: str) -> None:  # noqa: ANN001
    """Add the course to the `courses` partitions if Dagster does not know it yet (a course
    fetched outside the discovery sensor): a run of an unknown partition would only fail
    later, in the run. Uses the client's job lookup to find the code location."""
    jobs = client._get_repo_locations_and_names_with_pipeline(predict_course_job.name)
    if not jobs:
        raise LaunchFailed(f"Dagster's workspace has no {predict_course_job.name}")
    selector = {
        "repositoryLocationName": jobs[0].repository_location_name,
        "repositoryName": jobs[0].repository_name,
    }
    result = client._execute(
        ADD_PARTITION,
        {
            "partitionsDefName": courses_partitions.name,
            "partitionKey": course_id,
            "repositorySelector": selector,
        },
    )["addDynamicPartition"]
    if result["__typename"] not in PARTITION_PRESENT:
        raise LaunchFailed(
            f"Dagster refused to add partition {course_id!r}: "
            f"{result.get('message') or result['__typename']}"
        )


def launch_dagster_run(webserver_url: str, course_id: str) -> str:
    """Submit `predict_course_job` for the course's partition; the new run's id."""
    from dagster_graphql import DagsterGraphQLClientError

    client, where = _client(webserver_url)
    try:
        requests.get(f"{webserver_url.rstrip('/')}/server_info", timeout=10).raise_for_status()
    except requests.RequestException as error:
        raise LaunchFailed(f"could not reach Dagster at {where}: {type(error).__name__}") from error
    try:
        _ensure_partition(client, course_id)
        return client.submit_job_execution(predict_course_job.name, tags={PARTITION_TAG: course_id})
    except DagsterGraphQLClientError as error:
        raise LaunchFailed(
            f"Dagster refused the {predict_course_job.name} run for {course_id!r}: "
            f"{str(error).splitlines()[0]}"
        ) from error
    except LaunchFailed:
        raise
    except Exception as error:  # noqa: BLE001 - transport errors of the HTTP client
        raise LaunchFailed(f"could not reach Dagster at {where}: {type(error).__name__}") from error


def predict_in_process(
    engine: sa.Engine, course_id: str, now: datetime, store: ModelStore
) -> BatchPrediction:
    run_id = f"{API_RUN_PREFIX}{uuid.uuid4().hex[:16]}"
    try:
        scores = predict_course(engine, course_id, run_id, now, store=store)
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
    engine: sa.Engine,
    course_id: str,
    now: datetime,
    webserver_url: str | None,
    store: ModelStore,
) -> BatchPrediction:
    with engine.connect() as connection:
        require_course(connection, course_id)
    if webserver_url:
        run_id = launch_dagster_run(webserver_url, course_id)
        return BatchPrediction(course_id=course_id, mode="dagster", run_id=run_id, status="QUEUED")
    return predict_in_process(engine, course_id, now, store)
